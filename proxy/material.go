package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// material is an upstream's trust and identity: the CA pool and the client certificate,
// each swapped atomically so that handshakes never see a half-loaded state. A reload that
// fails keeps what was loaded before (certloader style) and is reported.
type material struct {
	upstream    string
	caFiles     []string
	systemRoots bool
	clientFiles *contract.ClientCertificate
	log         *slog.Logger
	metrics     *metrics

	roots      atomic.Pointer[x509.CertPool]
	clientCert atomic.Pointer[tls.Certificate]

	mu          sync.Mutex // serialises reloads and guards the states
	caState     loadState
	clientState loadState
	// caRead has one entry per CA file, clientRead is the client certificate's: what the
	// state report says of each (report.go).
	caRead     []fileRead
	clientRead fileRead
}

// fileRead is what the last read of one piece of material found, and what of it is held.
type fileRead struct {
	err     error               // of the last read; nil when it loaded
	missing []string            // the files it found missing
	held    []*x509.Certificate // the certificates in use, from the last read that loaded
	heldAt  time.Time           // when they loaded
}

// loadState is the bookkeeping of one kind of material.
type loadState struct {
	loaded   bool   // something valid was loaded once
	hash     string // of the files behind the loaded material
	failHash string // of the files behind the last failure, to report it once
	err      error  // last failure, nil once the files load again
	summary  string // what is loaded, for /readyz
}

// fileError names the file (and the configuration field) that failed to load.
type fileError struct {
	field string // relative to the upstream's tls field, e.g. "caFiles[1]"
	path  string
	err   error
}

func (e *fileError) Error() string { return e.field + ": " + e.detail() }

// detail is "path: problem", without the path twice for os errors.
func (e *fileError) detail() string {
	err := e.err
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		err = pe.Err
	}
	return fmt.Sprintf("%s: %v", e.path, err)
}
func (e *fileError) Unwrap() error { return e.err }

func newMaterial(u *contract.Upstream, log *slog.Logger, m *metrics) *material {
	mat := &material{
		upstream:    u.Name,
		caFiles:     u.TLS.CAFiles,
		systemRoots: u.TLS.SystemRoots,
		clientFiles: u.TLS.ClientCertificate,
		log:         log.With("upstream", u.Name),
		metrics:     m,
	}
	mat.caRead = make([]fileRead, len(u.TLS.CAFiles))
	// Fail closed until the first load: an empty pool trusts nothing. (A nil pool would
	// make crypto/x509 use the system roots.)
	mat.roots.Store(x509.NewCertPool())
	return mat
}

// files lists every file the material is read from, for the watcher.
func (m *material) files() []string {
	out := append([]string(nil), m.caFiles...)
	if m.clientFiles != nil {
		out = append(out, m.clientFiles.Files()...)
	}
	return out
}

// reload reads the files again and swaps in what changed and loads. It reports whether
// anything was swapped, so that the caller can retire connections made with the old
// material.
func (m *material) reload(now time.Time) (changed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	caChanged := m.reloadCA(now)
	clientChanged := m.clientFiles != nil && m.reloadClient(now)
	return caChanged || clientChanged
}

func (m *material) reloadCA(now time.Time) bool {
	pool, hash, certs, fileErrs, err := loadCAFiles(m.caFiles, m.systemRoots)
	for i, file := range m.caFiles {
		m.caRead[i].err, m.caRead[i].missing = fileErrs[i], missingFiles(fileErrs[i], file)
	}
	if !m.track(&m.caState, kindCA, hash, err) {
		return false
	}
	m.roots.Store(pool)
	n := 0
	for i, file := range m.caFiles {
		m.caRead[i].held, m.caRead[i].heldAt = certs[i], now
		n += len(certs[i])
		m.metrics.notAfter.WithLabelValues(m.upstream, kindCA, file).Set(float64(contract.EarliestNotAfter(certs[i]).Unix()))
	}
	m.caState.summary = fmt.Sprintf("%d CA certificate(s) from %d file(s)", n, len(m.caFiles))
	if m.systemRoots {
		m.caState.summary += " and the system roots"
	}
	m.log.Info("loaded CA bundle", "certificates", n, "files", len(m.caFiles), "systemRoots", m.systemRoots)
	return true
}

func (m *material) reloadClient(now time.Time) bool {
	cert, chain, hash, missing, err := loadClientCertificate(m.clientFiles)
	m.clientRead.err, m.clientRead.missing = err, missing
	if !m.track(&m.clientState, kindClient, hash, err) {
		return false
	}
	m.clientCert.Store(cert)
	m.clientRead.held, m.clientRead.heldAt = chain, now
	leaf := cert.Leaf
	m.metrics.notAfter.WithLabelValues(m.upstream, kindClient, m.clientFiles.Files()[0]).Set(float64(leaf.NotAfter.Unix()))
	m.clientState.summary = fmt.Sprintf("client certificate %q valid until %s", leaf.Subject.String(),
		leaf.NotAfter.UTC().Format(time.RFC3339))
	m.log.Info("loaded client certificate", "subject", leaf.Subject.String(), "notAfter", leaf.NotAfter)
	if now.After(leaf.NotAfter) {
		m.log.Warn("client certificate has expired; the upstream will likely reject it", "notAfter", leaf.NotAfter)
	}
	return true
}

// track does the bookkeeping of one load attempt and says whether to swap in the result.
// Unchanged files are not a reload; a failure is counted and logged once per content.
func (m *material) track(s *loadState, kind, hash string, err error) bool {
	if err != nil {
		if hash == s.failHash {
			return false
		}
		s.failHash, s.err = hash, err
		m.metrics.reloads.WithLabelValues(m.upstream, kind, resultFailure).Inc()
		if s.loaded {
			m.log.Error("reload failed, keeping the previously loaded material", "kind", kind, "error", err)
		} else {
			m.log.Error("cannot load TLS material; the upstream is not ready", "kind", kind, "error", err)
		}
		return false
	}
	s.failHash, s.err = "", nil
	if s.loaded && hash == s.hash {
		return false
	}
	s.loaded, s.hash = true, hash
	m.metrics.reloads.WithLabelValues(m.upstream, kind, resultSuccess).Inc()
	return true
}

func (m *material) status() contract.MaterialStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := contract.MaterialStatus{Ready: m.caState.loaded && (m.clientFiles == nil || m.clientState.loaded), CA: m.caState.summary}
	if m.clientFiles != nil {
		st.ClientCertificate = m.clientState.summary
	}
	for _, s := range []*loadState{&m.caState, &m.clientState} {
		if s.err == nil {
			continue
		}
		msg := s.err.Error()
		if s.loaded {
			msg += " (keeping the previously loaded material)"
		}
		st.Errors = append(st.Errors, msg)
	}
	return st
}

// loadCAFiles reads and merges the CA bundles; fileErrs has the error of each file (nil when
// it loaded). The hash covers the inputs, also on failure.
func loadCAFiles(files []string, system bool) (pool *x509.CertPool, hash string, certs [][]*x509.Certificate, fileErrs []error, err error) {
	h := sha256.New()
	fmt.Fprintf(h, "system=%t\n", system)
	var errs []error
	certs, fileErrs = make([][]*x509.Certificate, len(files)), make([]error, len(files))
	for i, file := range files {
		data, err := os.ReadFile(file)
		fmt.Fprintf(h, "%s\n%d\n", file, len(data))
		h.Write(data)
		if err == nil {
			certs[i], err = contract.ParseCABundle(data)
		}
		if err != nil {
			fmt.Fprintf(h, "error: %v\n", err)
			fileErrs[i] = &fileError{field: fmt.Sprintf("caFiles[%d]", i), path: file, err: err}
			errs = append(errs, fileErrs[i])
		}
	}
	hash = hex.EncodeToString(h.Sum(nil))
	if len(errs) > 0 {
		return nil, hash, nil, fileErrs, errors.Join(errs...)
	}
	pool = x509.NewCertPool()
	if system {
		sys, err := x509.SystemCertPool()
		if err != nil {
			return nil, hash, nil, fileErrs, &fileError{field: "systemRoots", path: "(system)", err: err}
		}
		pool = sys
	}
	for _, cs := range certs {
		for _, c := range cs {
			pool.AddCert(c)
		}
	}
	return pool, hash, certs, fileErrs, nil
}

// loadClientCertificate reads the key pair, from certFile and keyFile or from a credential
// bundle, and says which files are missing. The hash covers the files, also on failure.
func loadClientCertificate(cc *contract.ClientCertificate) (*tls.Certificate, []*x509.Certificate, string, []string, error) {
	files := cc.Files()
	data := make([][]byte, len(files))
	var missing []string
	var readErr *fileError
	h := sha256.New()
	for i, f := range files {
		var err error
		data[i], err = os.ReadFile(f)
		fmt.Fprintf(h, "%d\n", len(data[i]))
		h.Write(data[i])
		if err != nil {
			fmt.Fprintf(h, "error: %v\n", err)
			if errors.Is(err, fs.ErrNotExist) {
				missing = append(missing, f)
			}
			if readErr == nil {
				readErr = &fileError{field: clientField(cc, i), path: f, err: err}
			}
		}
	}
	hash := hex.EncodeToString(h.Sum(nil))
	if readErr != nil {
		return nil, nil, hash, missing, readErr
	}
	var cert *tls.Certificate
	var chain []*x509.Certificate
	var err error
	if cc.Bundle() {
		cert, chain, err = contract.ParseCredentialBundle(data[0])
	} else {
		cert, chain, err = contract.ParseClientCertificate(data[0], data[1])
	}
	if err != nil {
		return nil, nil, hash, nil, &fileError{field: clientField(cc, -1), path: strings.Join(files, ", "), err: err}
	}
	return cert, chain, hash, nil, nil
}

// clientField names the field of the client certificate's file i (-1: all of them).
func clientField(cc *contract.ClientCertificate, i int) string {
	switch {
	case cc.Bundle():
		return "clientCertificate.credentialBundleFile"
	case i == 0:
		return "clientCertificate.certFile"
	case i == 1:
		return "clientCertificate.keyFile"
	}
	return "clientCertificate"
}

// missingFiles lists file when err says it does not exist.
func missingFiles(err error, file string) []string {
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		return []string{file}
	}
	return nil
}

// Check validates cfg and loads every CA bundle and client certificate it names, as
// `proxy --check` does. Errors name the field, e.g. "upstreams[0].tls.caFiles[1]: ...".
// Material that loads but is expired or not yet valid is returned as warnings, named the
// same way: the proxy would start, and fail those handshakes.
func Check(cfg *contract.Config) (warnings []error, err error) {
	return checkAt(cfg, time.Now())
}

func checkAt(cfg *contract.Config, now time.Time) (warnings []error, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	for i, u := range cfg.Upstreams {
		prefix := fmt.Sprintf("upstreams[%d].tls.", i)
		_, _, certs, _, err := loadCAFiles(u.TLS.CAFiles, u.TLS.SystemRoots)
		if err != nil {
			errs = append(errs, prefixFileErrors(prefix, err)...)
		}
		for j, cs := range certs {
			field := fmt.Sprintf("%scaFiles[%d]", prefix, j)
			warnings = append(warnings, validityWarnings(field, u.TLS.CAFiles[j], cs, now)...)
		}
		if cc := u.TLS.ClientCertificate; cc != nil {
			cert, _, _, _, err := loadClientCertificate(cc)
			if err != nil {
				errs = append(errs, prefixFileErrors(prefix, err)...)
			} else {
				warnings = append(warnings, validityWarnings(prefix+clientField(cc, 0), cc.Files()[0], []*x509.Certificate{cert.Leaf}, now)...)
			}
		}
	}
	return warnings, errors.Join(errs...)
}

// validityWarnings names every certificate of a file that is outside its validity window.
func validityWarnings(field, path string, certs []*x509.Certificate, now time.Time) []error {
	var out []error
	for _, c := range certs {
		switch {
		case now.After(c.NotAfter):
			out = append(out, &contract.FieldError{Field: field, Detail: fmt.Sprintf("%s: certificate %q expired at %s",
				path, c.Subject.String(), c.NotAfter.UTC().Format(time.RFC3339))})
		case now.Before(c.NotBefore):
			out = append(out, &contract.FieldError{Field: field, Detail: fmt.Sprintf("%s: certificate %q is not valid before %s",
				path, c.Subject.String(), c.NotBefore.UTC().Format(time.RFC3339))})
		}
	}
	return out
}

func prefixFileErrors(prefix string, err error) []error {
	var leaves []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		leaves = j.Unwrap()
	} else {
		leaves = []error{err}
	}
	out := make([]error, 0, len(leaves))
	for _, e := range leaves {
		if fe, ok := errors.AsType[*fileError](e); ok {
			out = append(out, &contract.FieldError{Field: prefix + fe.field, Detail: fe.detail()})
			continue
		}
		out = append(out, e)
	}
	return out
}
