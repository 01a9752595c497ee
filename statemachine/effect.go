package statemachine

// Effect is a bit set of things the I/O layer must do after a step, once it
// has written the step's output bytes (in this order: write, then act).
type Effect uint8

// Effects of a step.
const (
	// EffClose: close the connection after the output is written.
	EffClose Effect = 1 << iota
	// EffStartTLS: after the output ("OK Begin TLS") is written, run the TLS
	// server handshake on the connection, then call Session.TLSReady. No
	// bytes may be passed to Receive until then (RFC 9051 §6.2.1: input
	// buffered before the handshake is discarded by the session).
	EffStartTLS
	// EffTimerChanged: the session's timeout class changed (Session.Timeout);
	// re-arm its timer.
	EffTimerChanged
	// EffMoreInput: the session stopped answering because the step's
	// output reached Config.MaxStepOutput; it keeps the remaining commands.
	// Once the output is written, call Receive again (with no new bytes);
	// read nothing from the client meanwhile. This bounds what one step of
	// pipelined commands can queue for a client that does not read.
	EffMoreInput
	// EffLiteral (only with Config.GateLiterals): a literal of
	// Session.LiteralWait() bytes was announced and the session stopped
	// before admitting it — before the "+" continuation of a synchronizing
	// literal, before reading the bytes of a non-synchronizing one. Once
	// the I/O layer has room for those bytes, it calls Receive again (with
	// no new bytes); it reads nothing from the client meanwhile. The bytes
	// stay buffered until Session.Assembling() turns false.
	EffLiteral
)
