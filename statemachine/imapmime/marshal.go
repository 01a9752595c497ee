package imapmime

import (
	"encoding/binary"
	"errors"
)

// ErrCorrupt is returned by DecodePart for bytes that AppendPart did not
// produce (or that were damaged).
var ErrCorrupt = errors.New("imapmime: corrupt encoded part tree")

// AppendPart appends a compact encoding of the tree p (for a MIME metadata
// cache): per part, in pre-order, uvarints of kind, child count, Start,
// Body-Start, End-Body and Lines. A typical single-part message takes
// about 8 bytes. The cache is expected to checksum it.
func AppendPart(dst []byte, p *Part) []byte {
	dst = binary.AppendUvarint(dst, uint64(p.kind))
	dst = binary.AppendUvarint(dst, uint64(len(p.Children)))
	dst = binary.AppendUvarint(dst, uint64(p.Start))
	dst = binary.AppendUvarint(dst, uint64(p.Body-p.Start))
	dst = binary.AppendUvarint(dst, uint64(p.End-p.Body))
	dst = binary.AppendUvarint(dst, uint64(p.Lines))
	for i := range p.Children {
		dst = AppendPart(dst, &p.Children[i])
	}
	return dst
}

// DecodePart decodes what AppendPart wrote for a message of rawLen bytes,
// checking that every offset lies inside the message and inside the parent.
func DecodePart(b []byte, rawLen int) (*Part, error) {
	d := decoder{b: b}
	p := d.part(0, uint32(rawLen), 0)
	if d.err != nil || d.i != len(b) {
		return nil, ErrCorrupt
	}
	return &p, nil
}

type decoder struct {
	b   []byte
	i   int
	err error
	n   int
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.err = ErrCorrupt
		return 0
	}
	d.i += n
	return v
}

func (d *decoder) part(lo, hi uint32, depth int) Part {
	var p Part
	kind := d.uvarint()
	nkids := d.uvarint()
	start := d.uvarint()
	hlen := d.uvarint()
	blen := d.uvarint()
	lines := d.uvarint()
	d.n++
	if d.err != nil || kind > 7 || depth > maxDepth+1 || d.n > maxParts+1 || nkids > maxParts ||
		start < uint64(lo) || start+hlen+blen > uint64(hi) || lines > blen {
		d.err = ErrCorrupt
		return p
	}
	p.kind = uint8(kind)
	p.Start = uint32(start)
	p.Body = uint32(start + hlen)
	p.End = uint32(start + hlen + blen)
	p.Lines = uint32(lines)
	if (p.IsMessage() && nkids != 1) || (p.IsMultipart() && nkids == 0) || (!p.IsMessage() && !p.IsMultipart() && nkids != 0) {
		d.err = ErrCorrupt
		return p
	}
	if nkids > 0 {
		p.Children = make([]Part, 0, min(int(nkids), 64))
		next := p.Body
		for k := uint64(0); k < nkids && d.err == nil; k++ {
			c := d.part(next, p.End, depth+1)
			p.Children = append(p.Children, c)
			next = c.End
		}
	}
	return p
}
