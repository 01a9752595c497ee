// Package server assembles imapd: the store, the event loops, the LMTP and
// metrics listeners, signals. The packages it wires do the work.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/myriad-mail/myriad/cmd/imapd/internal/authlimit"
	"github.com/myriad-mail/myriad/cmd/imapd/internal/config"
	"github.com/myriad-mail/myriad/cmd/imapd/internal/datadir"
	"github.com/myriad-mail/myriad/cmd/imapd/internal/lmtp"
	"github.com/myriad-mail/myriad/cmd/imapd/internal/metrics"
	"github.com/myriad-mail/myriad/cmd/imapd/internal/tlsutil"
	"github.com/myriad-mail/myriad/netio"
	"github.com/myriad-mail/myriad/statemachine"
	"github.com/myriad-mail/myriad/storage"
)

// Version is reported by ID and logged at start.
const Version = "0.1"

// Store is an open mail store with the FS it runs on.
type Store struct {
	*storage.Store
	FS *datadir.FS
}

// OpenStore opens the data directory's store as cfg describes. The caller
// must hold the data directory's lock.
func OpenStore(cfg *config.Config, log *slog.Logger) (*Store, error) {
	fs, err := datadir.NewFS(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	mode, err := storage.ParseFsyncMode(cfg.Storage.Fsync)
	if err != nil {
		return nil, err
	}
	st, err := storage.Open(storage.Config{
		FS:              fs,
		UsersFile:       fs.UsersName(cfg.UsersPath()),
		Fsync:           mode,
		BatchInterval:   cfg.Storage.BatchInterval.Duration,
		LogRotateBytes:  cfg.Storage.LogRotateBytes,
		MaxMessageBytes: cfg.Limits.MaxMessageBytes,
		Logger:          log,
	})
	if err != nil {
		return nil, err
	}
	return &Store{Store: st, FS: fs}, nil
}

// NewDeliverer returns the delivery step for st.
func NewDeliverer(cfg *config.Config, st *Store, log *slog.Logger) (*lmtp.Deliverer, error) {
	d := &lmtp.Deliverer{Store: st.Store, UsersPath: cfg.UsersPath(), MaxBytes: cfg.Limits.MaxMessageBytes, Log: log}
	return d, d.Reload()
}

// Server is a running imapd.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	lock    *datadir.Lock
	store   *Store
	smcfg   *statemachine.Config
	net     *netio.Server
	limiter *authlimit.Limiter
	metrics *metrics.Metrics
	deliver *lmtp.Deliverer
	cert    *tlsutil.Cert

	lmtpSrv *lmtp.Server
	lmtpLn  net.Listener
	httpSrv *http.Server
	httpLn  net.Listener
	wg      sync.WaitGroup

	// Addrs are the bound addresses by listener: "imap", "imaps", "lmtp",
	// "metrics".
	Addrs map[string]net.Addr
}

// ConfigError is an error of New that the configuration must fix (an
// unreadable certificate): `imapd serve` exits with EX_CONFIG for it.
type ConfigError struct{ error }

func (e ConfigError) Unwrap() error { return e.error }

// New opens the store and binds every listener; Start serves.
func New(cfg config.Config, log *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: log, Addrs: map[string]net.Addr{}}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	if s.lock, err = datadir.Acquire(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.DataDir, err)
	}
	if s.store, err = OpenStore(&cfg, log); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if s.deliver, err = NewDeliverer(&cfg, s.store, log); err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	var tlsCfg *tls.Config
	if cfg.TLS.Cert != "" {
		if s.cert, err = tlsutil.Load(cfg.TLS.Cert, cfg.TLS.Key); err != nil {
			return nil, ConfigError{fmt.Errorf("tls: %w", err)}
		}
		tlsCfg = s.cert.Config()
	}

	s.smcfg = statemachine.NewConfig()
	lim := &s.smcfg.Limits
	lim.MaxLine = cfg.Limits.MaxLineBytes
	// A literal larger than the server-wide literal budget could never be
	// admitted (netio.Config.MaxLiteralBuffer): APPENDLIMIT is at most the
	// budget, so such a literal gets [TOOBIG] instead.
	maxLit := min(cfg.Limits.MaxMessageBytes, cfg.Limits.MaxLiteralBufferBytes)
	lim.MaxLiteral = maxLit
	lim.MaxNonSyncLiteral = maxLit
	lim.MaxCommand = maxLit + int64(cfg.Limits.MaxLineBytes) + 1<<20
	s.smcfg.GateLiterals = true
	s.smcfg.TLSAvailable = tlsCfg != nil
	s.smcfg.AllowPlaintextAuth = cfg.Auth.InsecureAuth
	s.smcfg.ServerName = "Myriad " + cfg.HostnameOrDefault()
	s.smcfg.Version = Version
	s.smcfg.UnauthTimeout = seconds(cfg.Limits.UnauthTimeout)
	s.smcfg.AutoLogout = seconds(cfg.Limits.AutoLogout)
	s.smcfg.IdleTimeout = seconds(cfg.Limits.IdleTimeout)
	s.smcfg.OnCommand = s.onCommand // s.metrics is set below, before any session exists
	s.smcfg.Init()

	// A delayed failure holds a storage worker: at most a quarter of them
	// may be waiting at once, so that guessing cannot stall other sessions.
	workers := cfg.Network.Workers
	if workers <= 0 {
		loops := cfg.Network.Loops
		if loops <= 0 {
			loops = runtime.NumCPU()
		}
		workers = max(4, 4*loops) // netio's default
	}
	s.limiter = authlimit.New(s.store.Store, authlimit.Config{
		Delay:       cfg.Auth.FailureDelay.Duration,
		MaxPerAddr:  cfg.Auth.MaxFailuresPerAddr,
		MaxPerUser:  cfg.Auth.MaxFailuresPerUser,
		Window:      cfg.Auth.FailureWindow.Duration,
		MaxSleeping: max(1, workers/4),
	})

	s.net, err = netio.NewServer(netio.Config{
		Loops:            cfg.Network.Loops,
		Workers:          cfg.Network.Workers,
		MaxOutput:        cfg.Limits.MaxOutputBytes,
		TLS:              tlsCfg,
		MaxHandshakes:    cfg.Network.MaxHandshakes,
		HandshakeTimeout: seconds(cfg.Network.HandshakeTimeout),
		ReleaseAfter:     cfg.Network.ReleaseAfter,
		MaxLiteralBuffer: cfg.Limits.MaxLiteralBufferBytes,
	}, s.newSession)
	if err != nil {
		return nil, fmt.Errorf("event loops: %w", err)
	}
	s.metrics = metrics.New(metrics.Sources{Net: s.net.Stats, Fsyncs: s.store.FS.Fsyncs.Load})
	s.limiter.OnFailure(func(reason string) {
		if reason == "password" {
			s.metrics.Login("failed")
		} else {
			s.metrics.Login(reason)
		}
	})
	s.deliver.OnResult = s.metrics.LMTP

	if a := cfg.Listen.IMAP; a != "" {
		if s.Addrs["imap"], err = s.net.Listen(a, false); err != nil {
			return nil, err
		}
	}
	if a := cfg.Listen.IMAPS; a != "" {
		if s.Addrs["imaps"], err = s.net.Listen(a, true); err != nil {
			return nil, err
		}
	}
	if a := cfg.Listen.LMTP; a != "" {
		if s.lmtpLn, err = net.Listen("tcp", a); err != nil {
			return nil, fmt.Errorf("lmtp: %w", err)
		}
		s.Addrs["lmtp"] = s.lmtpLn.Addr()
		s.lmtpSrv = lmtp.NewServer(s.deliver, cfg.HostnameOrDefault(), cfg.Limits.LMTPMaxRecipients)
	}
	if a := cfg.Listen.Metrics; a != "" {
		if s.httpLn, err = net.Listen("tcp", a); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		s.Addrs["metrics"] = s.httpLn.Addr()
		s.httpSrv = &http.Server{Handler: s.metrics.Handler(), ReadHeaderTimeout: 10 * time.Second}
	}
	return s, nil
}

func seconds(d config.Duration) int64 {
	if d.Duration <= 0 {
		return 0
	}
	return max(1, int64(d.Seconds()))
}

// Start serves on every listener.
func (s *Server) Start() error {
	if err := s.net.Start(); err != nil {
		return err
	}
	if s.lmtpSrv != nil {
		s.wg.Go(func() {
			if err := s.lmtpSrv.Serve(s.lmtpLn); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
				s.log.Error("lmtp listener", "err", err)
			}
		})
	}
	if s.httpSrv != nil {
		s.wg.Go(func() {
			if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("metrics listener", "err", err)
			}
		})
	}
	args := []any{"version", Version, "data", s.cfg.DataDir, "fsync", s.cfg.Storage.Fsync, "pid", os.Getpid()}
	for _, k := range []string{"imap", "imaps", "lmtp", "metrics"} {
		if a := s.Addrs[k]; a != nil {
			args = append(args, k, a.String())
		}
	}
	s.log.Info("imapd started", args...)
	return nil
}

// Reload rereads the users file and the certificate (SIGHUP).
func (s *Server) Reload() {
	var errs []error
	if err := s.store.ReloadUsers(); err != nil {
		errs = append(errs, fmt.Errorf("users: %w", err))
	}
	if err := s.deliver.Reload(); err != nil {
		errs = append(errs, fmt.Errorf("users: %w", err))
	}
	if s.cert != nil {
		if err := s.cert.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("certificate: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Error("reload failed; keeping what was loaded", "err", err)
		return
	}
	s.log.Info("reloaded users file and certificate")
}

// Shutdown stops accepting, says BYE to every session, lets the commands
// and fsyncs in flight finish, closes the store and releases the data
// directory. Past ctx's deadline, sessions still open are cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.log.Info("shutting down", "sessions", s.net.Stats().Sessions)
	var errs []error
	var wg sync.WaitGroup
	if s.lmtpSrv != nil {
		wg.Go(func() {
			if err := s.lmtpSrv.Shutdown(ctx); err != nil {
				s.lmtpSrv.Close()
			}
		})
	}
	if err := s.net.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("sessions: %w", err))
	}
	wg.Wait()
	if s.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.httpSrv.Shutdown(sctx)
		cancel()
	}
	s.wg.Wait()
	s.closeAll()
	err := errors.Join(errs...)
	s.log.Info("imapd stopped", "clean", err == nil)
	return err
}

func (s *Server) closeAll() {
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Error("closing store", "err", err)
		}
		s.store = nil
	}
	if s.lmtpLn != nil && s.lmtpSrv == nil {
		s.lmtpLn.Close()
	}
	if s.httpLn != nil && s.httpSrv == nil {
		s.httpLn.Close()
	}
	s.lock.Release()
}

// Run serves until SIGTERM or SIGINT, reloading on SIGHUP. ready, if not
// nil, is called once serving.
func Run(cfg config.Config, log *slog.Logger, ready func(*Server)) error {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		s.Shutdown(context.Background())
		return err
	}
	if ready != nil {
		ready(s)
	}
	for x := range sig {
		if x == syscall.SIGHUP {
			s.Reload()
			continue
		}
		log.Info("signal received", "signal", x.String())
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Duration)
		go func() { // a second signal cuts the wait short
			select {
			case x := <-sig:
				if x != syscall.SIGHUP {
					cancel()
				}
			case <-ctx.Done():
			}
		}()
		err := s.Shutdown(ctx)
		cancel()
		if err != nil {
			log.Warn("shutdown cut short", "err", err)
		}
		return nil
	}
	return nil
}
