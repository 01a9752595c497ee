package statemachine

// PlantedBugs switches on known protocol bugs on purpose. Only the
// simulator's canary tests set them, to prove that its checkers catch each
// bug within a bounded number of seeds (a checker that cannot fail proves
// nothing). Production code never sets them; they are read without locking
// because a canary run is single-threaded.
var PlantedBugs struct {
	// ExpungeDuringFetch sends pending EXPUNGEs while answering FETCH,
	// STORE and SEARCH by sequence number (forbidden by RFC 9051 §7.5.1).
	ExpungeDuringFetch bool
	// DropFlagUpdates forgets flag changes made by other sessions instead
	// of reporting them with FETCH (FLAGS).
	DropFlagUpdates bool
	// ExpungeToQResync sends EXPUNGE instead of VANISHED to a session
	// that enabled QRESYNC (forbidden by RFC 7162 §3.2.10).
	ExpungeToQResync bool
	// ChangedSinceOffByOne makes FETCH (CHANGEDSINCE m) skip the messages
	// whose mod-sequence is m+1 (RFC 7162 §3.1.4.1 returns every one
	// above m).
	ChangedSinceOffByOne bool
}
