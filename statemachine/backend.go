package statemachine

import (
	"errors"

	"github.com/myriad-mail/myriad/statemachine/imapmime"
)

// This file is the contract between the session and the mail store, shaped like
// raft's Storage: the session calls these methods synchronously from a step;
// the I/O layer runs steps that may call them on a worker pool so that an
// event loop never waits on a disk. Implementations: statemachine/memstore (in
// memory, for tests) and storage (durable, on local disk).
//
// Error contract: a method returns one of the sentinel errors below for the
// conditions the protocol names (they become NO with the matching response
// code), or any other error for a failure of the store itself (it becomes
// NO [SERVERBUG] and is logged by the caller). A method that returned an error
// changed nothing. A method that changed a mailbox returns only after the
// change is durable: the tagged OK is sent after it returns.

// Sentinel errors returned by a Backend. Handlers branch on them with errors.Is.
var (
	ErrAuthFailed        = errors.New("statemachine: authentication failed")
	ErrNoSuchMailbox     = errors.New("statemachine: no such mailbox")
	ErrMailboxExists     = errors.New("statemachine: mailbox already exists")
	ErrMailboxHasKids    = errors.New("statemachine: mailbox has inferior hierarchical names")
	ErrBadMailboxName    = errors.New("statemachine: invalid mailbox name")
	ErrTooBig            = errors.New("statemachine: message too big")
	ErrOverQuota         = errors.New("statemachine: over quota")
	ErrTooManyKeywords   = errors.New("statemachine: too many keywords in mailbox")
	ErrCannotDeleteInbox = errors.New("statemachine: INBOX cannot be deleted")
	ErrNoSuchMessage     = errors.New("statemachine: no such message")
)

// Backend authenticates users.
type Backend interface {
	// Login checks a user name and password and returns the user's account.
	// It may be slow (bcrypt); the I/O layer runs it off the event loop.
	Login(user, password string) (Account, error)
}

// MailboxAttr is a bit set of mailbox attributes (RFC 9051 §7.3.1, RFC 6154).
type MailboxAttr uint16

// Mailbox attributes.
const (
	AttrNoSelect MailboxAttr = 1 << iota
	AttrNoInferiors
	AttrHasChildren
	AttrHasNoChildren
	AttrSubscribed
	AttrNonExistent
	AttrDrafts
	AttrSent
	AttrTrash
	AttrJunk
	AttrArchive
	AttrAll
	AttrFlagged
	AttrMarked
	AttrUnmarked

	// AttrSpecialUse is the union of the RFC 6154 special-use attributes.
	AttrSpecialUse = AttrDrafts | AttrSent | AttrTrash | AttrJunk | AttrArchive | AttrAll | AttrFlagged
)

// MailboxInfo describes one mailbox for LIST.
type MailboxInfo struct {
	Name  string // UTF-8, "/" as hierarchy delimiter, "INBOX" for the inbox
	Attrs MailboxAttr
}

// MailboxStatus is what STATUS reports.
type MailboxStatus struct {
	Messages      uint32
	UIDNext       UID
	UIDValidity   uint32
	Unseen        uint32
	Deleted       uint32
	Size          uint64
	Recent        uint32 // filled in by the session from the recent floor (recent.go); backends leave it 0
	HighestModSeq uint64
}

// AppendResult is what APPEND reports (RFC 4315 APPENDUID).
type AppendResult struct {
	UIDValidity uint32
	UID         UID
}

// CopyResult is what COPY and MOVE report (RFC 4315 COPYUID): the source
// UIDs and the UIDs they got in the destination, in the same order.
type CopyResult struct {
	UIDValidity uint32
	Source      []UID
	Dest        []UID
}

// Account is one logged-in user's view of their mail. It is shared by all of
// that user's sessions and must be safe for concurrent use.
type Account interface {
	// Name is the login name.
	Name() string
	// ListMailboxes returns every mailbox of the user (with AttrSubscribed
	// set for the subscribed ones), plus, with AttrNonExistent, subscribed
	// names that no longer exist.
	ListMailboxes() ([]MailboxInfo, error)
	CreateMailbox(name string, specialUse MailboxAttr) error
	// DeleteMailbox removes a mailbox. RFC 9051 §6.3.4: a mailbox with
	// inferiors becomes \Noselect instead (or ErrMailboxHasKids if it is
	// already \Noselect).
	DeleteMailbox(name string) error
	// RenameMailbox renames a mailbox and its inferiors. Renaming INBOX moves
	// its messages to the new mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
	RenameMailbox(from, to string) error
	SetSubscribed(name string, subscribed bool) error
	Status(name string) (MailboxStatus, error)
	// Append adds a message. flags are the flag names as sent (system flags
	// with their backslash); date is seconds since the epoch. message is a
	// view into the connection's input buffer, valid only during the call:
	// an implementation copies whatever it keeps.
	Append(mailbox string, flags []string, date int64, message []byte) (AppendResult, error)
	// Open returns a handle on a mailbox's shared live state. Every session
	// that selects the mailbox gets the same *Mailbox for as long as any
	// session holds it; Release drops the handle.
	Open(name string) (*Mailbox, error)
	Release(mbox *Mailbox)
}

// MailboxStore is the write side of one open mailbox, implemented by the
// backend. Each method persists the change, then publishes the new snapshot
// through Mailbox.Publish, then returns. The statemachine never writes a
// Snapshot itself.
type MailboxStore interface {
	// Store changes flags of the given UIDs (those still present). With
	// unchangedSince > 0, messages whose modseq is greater are not changed
	// and are returned in modified (RFC 7162 §3.1.3).
	Store(uids []UID, op FlagOp, flags []string, unchangedSince uint64) (modified []UID, err error)
	// Expunge removes the given UIDs (those still present).
	Expunge(uids []UID) error
	// Copy copies the messages to another mailbox of the same account.
	Copy(uids []UID, dest string) (CopyResult, error)
	// Move moves the messages to another mailbox (RFC 6851): copy, then
	// expunge here, atomically as far as other sessions can see.
	Move(uids []UID, dest string) (CopyResult, error)
	// Message returns the raw message (RFC 5322 bytes, CRLF line endings).
	// The slice must not be modified; it stays valid while the caller holds
	// the Mailbox.
	Message(uid UID) ([]byte, error)
}

// StructureCache is optionally implemented by a MailboxStore that keeps the
// parsed MIME structure of its messages (DESIGN.md: "a cache of parsed
// ENVELOPE/BODYSTRUCTURE so FETCH does not re-parse"). FETCH and SEARCH use
// it instead of Message plus imapmime.Parse when it is there. The returned
// Part must describe raw exactly; a store that finds its cached record
// corrupt re-parses rather than return it.
type StructureCache interface {
	MessageStructure(uid UID) (raw []byte, part *imapmime.Part, err error)
}
