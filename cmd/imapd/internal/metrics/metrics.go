// Package metrics holds imapd's Prometheus metrics.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/myriad-mail/myriad/netio"
	"github.com/myriad-mail/myriad/statemachine"
)

// Session states as labelled in myriad_sessions.
const (
	StateNotAuthenticated = iota
	StateAuthenticated
	StateSelected
	StateIdle
	StateLogout
	NStates
)

var stateNames = [NStates]string{"not_authenticated", "authenticated", "selected", "idle", "logout"}

// Command labels: "other" (statemachine.CmdUnknown, and UID with a command
// that has no UID form), every name statemachine knows, then the UID forms.
var (
	commandNames []string
	commandIndex [2][256]uint8 // [uid][name] → index into commandNames; 0: "other"
	idleIndex    uint8
)

var uidForms = []statemachine.CommandName{statemachine.CmdFetch, statemachine.CmdStore,
	statemachine.CmdSearch, statemachine.CmdCopy, statemachine.CmdMove, statemachine.CmdExpunge}

func init() {
	commandNames = []string{"other"}
	for n := 1; n < 256; n++ {
		name := statemachine.CommandName(n).String()
		if name == statemachine.CmdUnknown.String() {
			break
		}
		commandIndex[0][n] = uint8(len(commandNames))
		commandNames = append(commandNames, name)
	}
	for _, n := range uidForms {
		commandIndex[1][n] = uint8(len(commandNames))
		commandNames = append(commandNames, "UID "+n.String())
	}
	idleIndex = commandIndex[0][statemachine.CmdIdle]
}

var resultNames = [3]string{"ok", "no", "bad"} // by statemachine.Result

// Metrics is the registry and the instruments that sessions update. Every
// instrument is looked up once, so an update is an atomic add.
type Metrics struct {
	Registry *prometheus.Registry

	sessions [NStates]prometheus.Gauge
	commands [][len(resultNames)]prometheus.Counter
	latency  []prometheus.Observer
	logins   map[string]prometheus.Counter
	lmtp     *prometheus.CounterVec
}

// Sources are the counters other parts keep; read at scrape time.
type Sources struct {
	Net    func() netio.Stats
	Fsyncs func() uint64
}

// New makes the metrics.
func New(src Sources) *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{Registry: r}

	sv := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "myriad_sessions",
		Help: "IMAP sessions open now, by state (idle: selected and in IDLE)."}, []string{"state"})
	r.MustRegister(sv)
	for i := range m.sessions {
		m.sessions[i] = sv.WithLabelValues(stateNames[i])
	}

	cv := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "myriad_commands_total",
		Help: "IMAP commands answered, by command name and result (ok, no, bad)."}, []string{"command", "result"})
	hv := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "myriad_command_duration_seconds",
		Help:    "Time from the start of the input step that completed a command to its completion (IDLE excluded).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
		[]string{"command"})
	r.MustRegister(cv, hv)
	m.commands = make([][len(resultNames)]prometheus.Counter, len(commandNames))
	m.latency = make([]prometheus.Observer, len(commandNames))
	for i, n := range commandNames {
		for j := range resultNames {
			m.commands[i][j] = cv.WithLabelValues(n, resultNames[j])
		}
		m.latency[i] = hv.WithLabelValues(n)
	}

	lv := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "myriad_logins_total",
		Help: "Login attempts by result: ok, failed (wrong password or user), rate_limited."}, []string{"result"})
	r.MustRegister(lv)
	m.logins = map[string]prometheus.Counter{}
	for _, s := range []string{"ok", "failed", "rate_limited"} {
		m.logins[s] = lv.WithLabelValues(s)
	}
	m.lmtp = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "myriad_lmtp_deliveries_total",
		Help: "Messages delivered over LMTP, per recipient, by result: ok, no_user, too_big, failed."}, []string{"result"})
	r.MustRegister(m.lmtp)

	counter := func(name, help string, f func(netio.Stats) uint64) {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(src.Net())) }))
	}
	if src.Net != nil {
		counter("myriad_bytes_received_total", "Bytes read from IMAP connections (TLS: ciphertext).", func(s netio.Stats) uint64 { return s.BytesIn })
		counter("myriad_bytes_sent_total", "Bytes written to IMAP connections (TLS: ciphertext).", func(s netio.Stats) uint64 { return s.BytesOut })
		counter("myriad_connections_accepted_total", "IMAP connections accepted.", func(s netio.Stats) uint64 { return s.Accepted })
		counter("myriad_connections_closed_total", "IMAP connections closed.", func(s netio.Stats) uint64 { return s.Closed })
		counter("myriad_wakeups_total", "Session wake-ups after a mailbox change (coalesced per connection).", func(s netio.Stats) uint64 { return s.Wakeups })
		counter("myriad_wakeup_batches_total", "Event-loop turns that handled queued wake-ups.", func(s netio.Stats) uint64 { return s.WakeBatches })
		counter("myriad_steps_total", "Session input steps run on the worker pool.", func(s netio.Stats) uint64 { return s.Steps })
		counter("myriad_timeouts_total", "Timer expiries (inactivity, handshake, linger).", func(s netio.Stats) uint64 { return s.Timeouts })
		counter("myriad_output_overflows_total", "Connections closed for not reading their output.", func(s netio.Stats) uint64 { return s.Overflows })
		counter("myriad_tls_handshakes_total", "TLS handshakes completed.", func(s netio.Stats) uint64 { return s.TLSHandshakes })
		counter("myriad_tls_handshake_failures_total", "TLS handshakes failed.", func(s netio.Stats) uint64 { return s.TLSFailures })
		counter("myriad_accept_errors_total", "accept(2) failures (EMFILE and the like).", func(s netio.Stats) uint64 { return s.AcceptErrors })
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "myriad_connections",
			Help: "IMAP connections open now."}, func() float64 { return float64(src.Net().Sessions) }))
	}
	if src.Fsyncs != nil {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "myriad_fsyncs_total",
			Help: "fsync(2) calls of the mail store (files and directories)."},
			func() float64 { return float64(src.Fsyncs()) }))
	}
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("Myriad imapd: metrics at /metrics\n"))
	})
	return mux
}

// SessionState moves one session from state from to state to (-1: none).
func (m *Metrics) SessionState(from, to int) {
	if from == to {
		return
	}
	if from >= 0 {
		m.sessions[from].Dec()
	}
	if to >= 0 {
		m.sessions[to].Inc()
	}
}

// Command counts a completed command (statemachine.Config.OnCommand) and,
// unless it is IDLE or dur is negative, observes dur nanoseconds as its
// latency.
func (m *Metrics) Command(name statemachine.CommandName, uid bool, result statemachine.Result, dur int64) {
	u := 0
	if uid {
		u = 1
	}
	i := commandIndex[u][name]
	m.commands[i][min(int(result), len(resultNames)-1)].Inc()
	if dur >= 0 && i != idleIndex {
		m.latency[i].Observe(time.Duration(dur).Seconds())
	}
}

// Login counts a login attempt ("ok", "failed", "rate_limited").
func (m *Metrics) Login(result string) {
	if c := m.logins[result]; c != nil {
		c.Inc()
	}
}

// LMTP counts a delivery to one recipient.
func (m *Metrics) LMTP(result string) { m.lmtp.WithLabelValues(result).Inc() }
