// Package storage is Myriad's durable mail store: users, mailboxes and
// messages on local disk, implementing statemachine.Backend, Account and
// MailboxStore. It promises that a change acknowledged to a client (the
// method returned nil) survives a crash, that every byte it reads back is
// covered by a CRC-32C (Castagnoli) it verifies, and that recovery never
// resets a flag that an intact record still holds.
//
// All disk access goes through FS (fs.go). OSFS is the operating system;
// MemFS is an in-memory twin that loses unsynced writes and directory
// entries on Crash, can tear the last write and flip bits, deterministically
// for a seed (for the crash tests and the simulator).
//
// # Layout
//
//	<root>/users                    passwd-file of users (Dovecot format)
//	<root>/u/<user>/                one directory per user; <user> is the login
//	                                name with bytes outside [a-z0-9_@+-] (and a
//	                                leading '.') as %XX: injective, never "..",
//	                                never holds '/'
//	<root>/u/<user>/mailboxes       mailbox list (sealed file, below)
//	<root>/u/<user>/mailboxes.backup  the previous mailbox list
//	<root>/u/<user>/subscriptions   subscribed names (sealed file)
//	<root>/u/<user>/mb<N>/          one directory per mailbox, N a number
//	    index, index.backup         checkpoint of the mailbox and the one before
//	    log, log.1                  transaction log since the checkpoint, and
//	                                the segment before it
//	    cache                       MIME metadata cache (advisory, below)
//	    m/<uid>                     one immutable file per message
//	    m/tmp-<n>, *.tmp            files being written; removed on open
//
// Mailbox names never reach the file system: the mailbox list maps each
// name to the number of its directory. So no name ("..", "a/../../b",
// "%2F", NUL, 2000 bytes, invalid UTF-8) can reach outside the user's
// directory, one user's names can never open another's mailbox, and RENAME
// of a mailbox with inferiors is one atomic rewrite of the list. Names are
// still checked (UTF-8, no controls, no empty level, at most 1000 bytes and
// 32 levels) and "INBOX" is case-insensitive. mb0 is always INBOX.
//
// All integers are little-endian. These formats are frozen: the constants
// in format.go must not change; a new format gets a new magic or version.
//
// # Log record
//
// The log is a sequence of records, appended with one write per change and
// fsynced before the change is acknowledged:
//
//	+-----------+--------+------------+-----------+-------------------+
//	| length u32| type u8| modseq u64 | crc32c u32| payload (length)  |
//	+-----------+--------+------------+-----------+-------------------+
//	  crc32c covers length, type, modseq and payload (not itself).
//
//	type 1 append   n u32, n × {uid u32, size u32, flags u64, date i64}
//	type 2 flags    n u32, n × {uid u32, flags u64}   (new flags, absolute)
//	type 3 expunge  n u32, n × uid u32
//	type 4 keyword  bit u8, name            (keyword bit → name, append only)
//	type 5 uids     uidvalidity u32, uidnext u32  (first record of every log)
//
// flags is statemachine.Flags: system flags in bits 0-4, keyword i in bit
// 8+i. A record's modseq is the mailbox's HIGHESTMODSEQ after it; append,
// flags and expunge raise it by one, keyword and uids records carry the
// current value. Flags are written as absolute values, so replay is
// idempotent and a lost record cannot corrupt a later one.
//
// # Index
//
//	header:  magic "MYRIDX01" | uidvalidity u32 | uidnext u32 |
//	         highestmodseq u64 | count u32 | nkeywords u32 | headerlen u32 |
//	         reserved u32 | nkeywords × {len u8, name} | crc32c u32
//	records: count × 40 bytes, ascending by uid:
//	         uid u32 | size u32 | flags u64 | modseq u64 | date i64 |
//	         cache offset u32 (always 0: reserved; the MIME cache is its own
//	         file, below) | crc32c u32
//
// The header CRC covers the header before it; each record's CRC covers its
// first 36 bytes. A record is also rejected if its uid does not ascend, is
// not below uidnext, or its modseq exceeds the header's.
//
// # Message file
//
//	magic "MYRM" | version u8 (1) | nkeywords u8 | headerlen u16 | date i64 |
//	size u32 | system flags u32 | body crc32c u32 | reserved u32 |
//	nkeywords × {len u8, name} | header crc32c u32 | body (size bytes)
//
// The header keeps the date and the flags given at APPEND (or COPY), so a
// message file whose log record was lost is re-added with them. Message
// verifies both CRCs before it returns a body.
//
// # MIME cache
//
// The parsed structure of messages, so FETCH ENVELOPE/BODYSTRUCTURE/BODY[n]
// and SEARCH do not re-parse them (statemachine.StructureCache):
//
//	header:  magic "MYRMC001" | uidvalidity u32 | crc32c u32 (of the 12 before)
//	records: uid u32 | length u32 | paylen u32 | crc32c u32 | payload (paylen)
//	         crc32c covers uid, length, paylen and payload;
//	         payload = imapmime.AppendPart(nil, part), length = the message's
//	         size in bytes; a later record for a UID replaces an earlier one
//
// The cache is advisory: nothing depends on it being durable. A record is
// appended (no fsync) when a message is first parsed. At open the records
// are read up to the first one that fails its checksum (a damaged header,
// another UIDVALIDITY, a torn tail: the rest is dropped and the file
// rewritten from what verified); a record whose UID is not in the mailbox
// or whose length is not the message's is dropped. MessageStructure uses
// a record only if imapmime.DecodePart(payload, len(raw)) succeeds; else it
// re-parses and appends a fresh record. When the index is rewritten the
// cache is rewritten too (cache.tmp, fsync, rename, directory fsync),
// without expunged UIDs. A failure to write it turns the cache off for
// the mailbox until the next open; the mailbox is unaffected.
//
// # Sealed files (mailbox list, subscriptions)
//
//	magic (8 bytes) | payload | crc32c u32 of magic and payload
//
//	"MYRMBX01": nextid u32 | nextuidvalidity u32 | n u32 |
//	            n × {id u32, attrs u16, uidvalidity u32, namelen u16, name}
//	"MYRSUB01": n u32 | n × {namelen u16, name}
//
// Every rewritten file is written as name.tmp, fsynced, renamed over the
// old one (which, for index and mailboxes, is first renamed to .backup),
// and the directory fsynced.
//
// # Commit
//
// A change takes the mailbox's lock, assigns the next modseq, reserves its
// records' place at the end of the log, builds the next snapshot and
// queues it. With FsyncAlways (the default) it then writes its records at
// that place outside the lock (a write to a file being fsynced can wait for
// the journal) and waits until a log fsync covers them: an fsync covers
// only the changes up to the first one not yet written; the first waiter to find no fsync running makes
// it for all records written by then and publishes their snapshots in order
// (Mailbox.Publish): group commit, one fsync per batch, and no session ever
// sees a change that is not durable. APPEND writes the message file under a
// temporary name first; its data must be durable before its name, and its
// name before the record is acknowledged. By default each file is fsynced
// by its writer (in parallel) and m/ and the log once per batch (on OSFS
// both at once, from two goroutines: they share a journal commit); with
// Config.SyncFS and an FS that can sync everything at once (OSFS:
// syncfs(2)), concurrent APPENDs share one sync for all their files (a
// store-wide barrier) and one for names and log.
// FsyncBatch acknowledges before the fsync (within BatchInterval);
// FsyncNever leaves it to the kernel.
//
// # Index rewrite
//
// When a log grows past Config.LogRotateBytes, with every record durable:
// write index.tmp, fsync; rename index → index.backup; rename index.tmp →
// index; fsync the directory; write log.tmp holding one uids record, fsync;
// rename log → log.1 (dropping the older log.1); rename log.tmp → log;
// fsync the directory. After every step a complete state is on disk: the
// new index; or the old index (now index.backup) with log.1 and log; and
// index.backup with log.1 always covers what index covers, so a damaged
// index costs nothing.
//
// # Recovery
//
// Opening a mailbox:
//
//  1. takes the index if every checksum holds; else index.backup; else
//     salvages every record that verifies from both (a damaged record of
//     the index is replaced by the backup's records in its UID gap) and
//     skips HIGHESTMODSEQ ahead by 2^32, since nothing bounds what was lost;
//  2. replays the records of log.1 and log in modseq order (file order
//     among equal modseqs; for the logs storage writes this is their file
//     order, and a log whose modseqs go back is reported as damage): a
//     record is skipped if the base already holds it (an append at or
//     below the base's modseq; a flags change or expunge not newer than
//     the message's modseq), so a second recovery, starting from the index
//     the first one wrote, arrives at the same mailbox. A record that fails
//     its checksum is skipped up to the next record that verifies, or,
//     when none does, ends the log (a torn tail, cut off); finding the next
//     record costs work linear in the bytes skipped, whatever they hold
//     (structural checks first, then window CRCs derived from prefix CRCs:
//     resync.go). If records were lost, HIGHESTMODSEQ skips ahead by as
//     many as the lost bytes could hold, and the skip is logged, so MODSEQ
//     never goes back;
//  3. reconciles with m/: a record without its file is expunged; a file
//     with a UID at or above UIDNEXT and no record (an APPEND cut short) is
//     re-added with the flags in its header if its checksums hold; a file
//     below UIDNEXT without a record was expunged and is removed;
//  4. writes its repairs to the log and fsyncs before anything is served;
//     a damaged index is rewritten (index.backup kept); a damaged log is
//     rotated away;
//  5. logs every finding with log/slog (Check returns them instead).
//
// A log cut exactly at a record boundary looks like a shorter log. Two
// things on disk say how long a log was, and recovery checks both: the
// clean marker (the log's length and HIGHESTMODSEQ at the last clean close;
// a shorter log or a lower modseq is reported, and HIGHESTMODSEQ skips past
// the marker's, so no modseq is reused), and, for log.1, the first record
// of log (every rotation starts the new log with a UIDs record at the
// modseq log.1's last change record carries; checked when log.1 is needed,
// i.e. the index is damaged). A cut of the live log while the mailbox is
// open, or after a crash, is not detectable: only the log itself is fsynced
// at each commit, so nothing else durable knows its length without a
// second fsync per commit. Within the fault model (a crash loses what was
// not fsynced) such a cut only loses records that were never acknowledged
// or published, so their modseqs were never seen; losing fsynced bytes is
// outside it (docs/STORAGE.md, "Known limits").
package storage
