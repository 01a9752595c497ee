// Package fuzz holds Myriad's Go native fuzz targets, one file each, with
// their seed corpora under testdata/fuzz/<Target>/ (docs/FUZZING.md):
//
//   - FuzzParse: the framer and the command parser on arbitrary bytes in
//     arbitrary chunkings: no panic, buffered bytes within the Limits, and
//     the same frames and commands whatever the chunking.
//   - FuzzRoundTrip: every command ParseCommand accepts, written back with
//     AppendCommand, parses to the same Command.
//   - FuzzSession: command streams against several sessions on memstore,
//     interleaved, with wake-ups delivered: no panic, one tagged response
//     per complete command, well-formed responses, and a client-side model
//     of sequence numbers ↔ UIDs that the responses never contradict.
//   - FuzzStorageOpen: arbitrary index, log, index.backup and log.1 files:
//     opening the mailbox never panics, every message it returns is backed
//     by a record whose checksum holds, and reopening changes nothing.
//   - FuzzMIME: arbitrary messages through ENVELOPE, BODYSTRUCTURE and
//     BODY[section]/BINARY[section]: no panic, a well-formed FETCH response
//     with the structure RFC 9051 §7.5.2 gives those items; and arbitrary
//     cached MIME metadata (imapmime.DecodePart) for the message.
//
// The targets live in _test.go files; this file only names the package.
//
//	go test ./fuzz                              # the seed corpora, as regression tests
//	go test ./fuzz -run '^$' -fuzz '^FuzzParse$' -fuzztime 10m
//	make fuzz FUZZTIME=10s                      # every target in turn
//	go test ./fuzz -run TestWriteSeeds -writeseeds   # regenerate the seed corpora
package fuzz
