package main

import (
	sm "github.com/myriad-mail/myriad/statemachine"
)

// reuseBackend plants the "reuse a UID after expunge" bug for its canary:
// after every EXPUNGE or MOVE it lowers the current snapshot's UIDNEXT to just
// above the highest remaining UID, so the next APPEND or COPY gives out the
// UID of a message that was just expunged (forbidden within one UIDVALIDITY,
// RFC 9051 §2.3.1.1). Both memstore and storage assign UIDs from the current
// snapshot's UIDNext, so the bug is real in either. storage has no switch for
// it (see docs/SIM.md); this wrapper exists only for the canary test.
type reuseBackend struct{ inner sm.Backend }

func (b *reuseBackend) Login(user, password string) (sm.Account, error) {
	a, err := b.inner.Login(user, password)
	if err != nil {
		return nil, err
	}
	return reuseAccount{a}, nil
}

type reuseAccount struct{ sm.Account }

func (a reuseAccount) Open(name string) (*sm.Mailbox, error) {
	mb, err := a.Account.Open(name)
	if err != nil {
		return nil, err
	}
	if _, ok := mb.Store.(*reuseStore); !ok {
		mb.Store = &reuseStore{MailboxStore: mb.Store, mb: mb}
	}
	return mb, nil
}

type reuseStore struct {
	sm.MailboxStore
	mb *sm.Mailbox
}

func (s *reuseStore) lower() {
	snap := s.mb.Current()
	next := sm.UID(1)
	if n := snap.Len(); n > 0 {
		next = snap.At(n-1).UID + 1
	}
	snap.UIDNext = next // the planted bug: a published snapshot changed in place
}

func (s *reuseStore) Expunge(uids []sm.UID) error {
	err := s.MailboxStore.Expunge(uids)
	s.lower()
	return err
}

func (s *reuseStore) Move(uids []sm.UID, dest string) (sm.CopyResult, error) {
	r, err := s.MailboxStore.Move(uids, dest)
	s.lower()
	return r, err
}
