package statemachine

import "strings"

// matchPattern reports whether name matches a LIST pattern: "*" matches any
// run of characters, "%" any run without the hierarchy delimiter
// (RFC 9051 §6.3.9).
func matchPattern(pat, name string) bool {
	for len(pat) > 0 {
		c := pat[0]
		switch c {
		case '*', '%':
			rest := pat[1:]
			for i := 0; i <= len(name); i++ {
				if matchPattern(rest, name[i:]) {
					return true
				}
				if i < len(name) && c == '%' && name[i] == '/' {
					return false
				}
			}
			return false
		default:
			if len(name) == 0 || name[0] != c {
				return false
			}
			pat, name = pat[1:], name[1:]
		}
	}
	return len(name) == 0
}

// canonicalPattern joins reference and pattern and upper-cases a leading
// INBOX so that "inbox" matches INBOX (RFC 9051 §5.1).
func canonicalPattern(ref, pat string) string {
	p := ref + pat
	if len(p) >= 5 && strings.EqualFold(p[:5], "INBOX") && (len(p) == 5 || p[5] == '/') {
		p = "INBOX" + p[5:]
	}
	return p
}

var attrNames = [...]struct {
	a    MailboxAttr
	name string
}{
	{AttrNoSelect, `\Noselect`},
	{AttrNoInferiors, `\NoInferiors`},
	{AttrNonExistent, `\NonExistent`},
	{AttrHasChildren, `\HasChildren`},
	{AttrHasNoChildren, `\HasNoChildren`},
	{AttrSubscribed, `\Subscribed`},
	{AttrMarked, `\Marked`},
	{AttrUnmarked, `\Unmarked`},
	{AttrAll, `\All`},
	{AttrArchive, `\Archive`},
	{AttrDrafts, `\Drafts`},
	{AttrFlagged, `\Flagged`},
	{AttrJunk, `\Junk`},
	{AttrSent, `\Sent`},
	{AttrTrash, `\Trash`},
}

func (s *Session) list(cmd *Command) {
	ref := string(cmd.Mailbox)
	lsub := cmd.Name == CmdLsub
	if !lsub && len(cmd.Patterns) == 1 && len(cmd.Patterns[0]) == 0 {
		// RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
		s.untagged(`LIST (\Noselect) "/" ""`)
		s.done(cmd)
		return
	}
	boxes, err := s.account.ListMailboxes()
	if err != nil {
		s.storeError(cmd.Tag, err)
		return
	}
	sel, ret := cmd.ListSel, cmd.ListRet
	if sel&ListSelSubscribed != 0 {
		ret |= ListRetSubscribed
	}
	matches := func(name string) bool {
		for _, p := range cmd.Patterns {
			if matchPattern(canonicalPattern(ref, string(p)), name) {
				return true
			}
		}
		return false
	}
	// With SUBSCRIBED and RECURSIVEMATCH, a parent that does not match
	// itself but has a matching subscribed child is listed with CHILDINFO
	// (RFC 5258 §3.5). Collect those parents first.
	childInfo := map[string]bool{}
	if sel&ListSelSubscribed != 0 && sel&ListSelRecursiveMatch != 0 {
		for _, b := range boxes {
			if b.Attrs&AttrSubscribed == 0 {
				continue
			}
			for n := b.Name; ; {
				i := strings.LastIndexByte(n, '/')
				if i < 0 {
					break
				}
				n = n[:i]
				childInfo[n] = true
			}
		}
	}
	// RFC 3501 §6.3.9: when "foo/bar" is subscribed but "foo" is not, LSUB
	// with a "%" that matches "foo" (and not "foo/bar") returns "foo" flagged
	// \Noselect. Such a parent is listed once, where the first subscribed
	// descendant that the pattern does not match comes (with "*" the
	// descendant itself is listed, and the parent is not).
	var lsubParents map[string]bool
	if lsub {
		subscribedNames := map[string]bool{}
		for _, b := range boxes {
			if b.Attrs&AttrSubscribed != 0 {
				subscribedNames[b.Name] = true
			}
		}
		lsubParents = map[string]bool{}
		for _, b := range boxes {
			if !subscribedNames[b.Name] {
				continue
			}
			for i := 0; i < len(b.Name); i++ {
				if b.Name[i] == '/' && !subscribedNames[b.Name[:i]] {
					lsubParents[b.Name[:i]] = true
				}
			}
		}
	}
	for _, b := range boxes {
		attrs := b.Attrs
		subscribed := attrs&AttrSubscribed != 0
		if lsub && subscribed {
			for i := 0; i < len(b.Name); i++ {
				if p := b.Name[:i]; b.Name[i] == '/' && lsubParents[p] && matches(p) && !matches(b.Name) {
					delete(lsubParents, p)
					s.out = append(s.out, `* LSUB (\Noselect) "/" `...)
					s.appendMailboxName(p)
					s.out = append(s.out, "\r\n"...)
				}
			}
		}
		if lsub || sel&ListSelSubscribed != 0 {
			if !subscribed && !childInfo[b.Name] {
				continue
			}
		} else if attrs&AttrNonExistent != 0 {
			continue
		}
		if sel&ListSelSpecialUse != 0 && attrs&AttrSpecialUse == 0 {
			continue
		}
		if !matches(b.Name) {
			continue
		}
		if ret&ListRetSubscribed == 0 || lsub {
			attrs &^= AttrSubscribed
		}
		if lsub {
			attrs &^= AttrHasChildren | AttrHasNoChildren | AttrSpecialUse
			// LSUB knows only \Noselect for a subscribed name that cannot
			// be selected (RFC 3501 §7.2.3); \NonExistent is LIST-EXTENDED's.
			if attrs&AttrNonExistent != 0 {
				attrs = attrs&^AttrNonExistent | AttrNoSelect
			}
		}
		if attrs&AttrNonExistent != 0 {
			attrs &^= AttrHasChildren | AttrHasNoChildren
		}
		if lsub {
			s.out = append(s.out, "* LSUB ("...)
		} else {
			s.out = append(s.out, "* LIST ("...)
		}
		first := true
		for _, an := range attrNames {
			if attrs&an.a != 0 {
				if !first {
					s.out = append(s.out, ' ')
				}
				first = false
				s.out = append(s.out, an.name...)
			}
		}
		s.out = append(s.out, `) "/" `...)
		s.appendMailboxName(b.Name)
		if childInfo[b.Name] && sel&ListSelRecursiveMatch != 0 {
			s.out = append(s.out, ` ("CHILDINFO" ("SUBSCRIBED"))`...)
		}
		s.out = append(s.out, "\r\n"...)
		if ret&ListRetStatus != 0 && attrs&(AttrNoSelect|AttrNonExistent) == 0 {
			// RFC 5819: STATUS follows the LIST response of its mailbox.
			if st, err := s.account.Status(b.Name); err == nil {
				s.statusResponse(b.Name, st, cmd.StatusItems)
			}
		}
	}
	s.done(cmd)
}
