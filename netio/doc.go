// Package netio is Myriad's network layer: epoll event loops on
// golang.org/x/sys/unix that carry IMAP sessions (DESIGN.md, "netio/").
//
// Shape:
//
//   - One loop per core, each with its own epoll instance and its own
//     SO_REUSEPORT listening socket per listener, so the kernel spreads
//     accepts across loops.
//   - Connections live in one fd-indexed table of small structs (conn); no
//     goroutine, no runtime timer and no buffer belongs to an idle connection.
//   - Each loop reads with ONE read buffer. Bytes read are handed to
//     Session.Receive, which consumes all of them; Receive may reach storage,
//     so it runs on a bounded worker pool, at most one step per connection in
//     flight, in order; the connection is not read from meanwhile (a client
//     sending faster than it is served is simply not read from).
//   - Write buffers are borrowed from per-loop free lists only while output is
//     pending and returned when flushed. Output queued past Config.MaxOutput
//     closes the connection.
//   - Wake-ups (statemachine.Waker) from any goroutine set a bit on the
//     connection and, the first time, queue it to its loop; the loop is
//     signalled through an eventfd guarded by a CAS, so a burst of wake-ups
//     costs one syscall. The loop drains its queue in bounded batches.
//   - Timers: a hashed timer wheel per loop with one-second slots, driven by
//     Session.Timeout and Session.Tick; re-arming on activity is a store.
//   - Connections to close are collected and closed at the end of a batch.
//   - TLS (implicit and STARTTLS) uses crypto/tls over an in-memory transport:
//     a goroutine exists only during the handshake; afterwards the loop feeds
//     the tls.Conn only whole records, so tls.Conn.Read never blocks. See
//     docs/NETIO.md for how TLS memory is held and what it costs.
//
// Budget (DESIGN.md): an idle session costs at most 1 KiB of user-space
// memory in netio plus the session, 4 KiB with TLS; TestIdleMemory and
// docs/NETIO.md report the measured figures.
package netio
