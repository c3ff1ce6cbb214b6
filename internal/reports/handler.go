package reports

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/accesslog"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// Authenticator turns a bearer token into a viewer; it returns an
// UNAUTHENTICATED *errcode.Error for refused credentials. The GraphQL
// endpoint's authenticator (*auth.Authenticator) is the one to use.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*authz.Viewer, error)
}

// HandlerConfig configures Handler.
type HandlerConfig struct {
	Reports *Service
	Auth    Authenticator
	Log     *slog.Logger
	// Signer signs the reports of a request; nil sends them unsigned.
	Signer *Signer
}

// Handler serves the reports; mount it at /reports/. Every request needs an
// `Authorization: Bearer` token (401 otherwise):
//
//	GET /reports/access-requests/{id}/audit.csv   (text/csv)
//	GET /reports/access-requests/{id}/audit.json  (application/json)
//	GET /reports/access-requests/{id}/audit.pdf   (application/pdf)
//	    the request's report, for whoever may see the request (404 otherwise),
//	    with its detached Ed25519 signature over the exact body in the
//	    header "Gatehouse-Signature: ed25519=<base64>" (SignatureHeader); the
//	    public key is at KeyPath (Signer.KeyHandler)
//	GET /reports/access-requests.csv?from=&to=&status=&application=
//	    one row per item, streamed; RISK_MANAGER and IT_ADMIN (403 otherwise).
//	    from and to bound the submission time (RFC 3339, or a date: to a date
//	    includes that day), status is a request status, application an ID.
//
// Downloads are attachments (Content-Disposition) that are not cached.
// Errors are JSON: {"errors":[{"message":…,"extensions":{"code":…}}]}.
func Handler(cfg HandlerConfig) http.Handler {
	h := &handler{reports: cfg.Reports, log: cfg.Log, signer: cfg.Signer}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /reports/access-requests/{id}/{file}", h.request)
	mux.HandleFunc("GET /reports/access-requests.csv", h.export)
	return authenticate(cfg.Auth, h.log, mux)
}

type handler struct {
	reports *Service
	log     *slog.Logger
	signer  *Signer
}

// formats are the renderings of a request's report by file name.
var formats = map[string]struct {
	contentType string
	write       func(io.Writer, *Report) error
}{
	"audit.csv":  {"text/csv; charset=utf-8", WriteCSV},
	"audit.json": {"application/json", WriteJSON},
	"audit.pdf":  {"application/pdf", WritePDF},
}

func (h *handler) request(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	format, ok := formats[file]
	id := pulid.ID(r.PathValue("id"))
	if !ok || id.Prefix() != "req" {
		h.fail(w, r, errcode.New(errcode.NotFound, "no such report"))
		return
	}
	rep, err := h.reports.Request(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// A request's report is small: render it whole, so that a failure is
	// still an error status.
	var buf bytes.Buffer
	if err := format.write(&buf, rep); err != nil {
		h.fail(w, r, err)
		return
	}
	name := "gatehouse-audit-" + string(id) + strings.TrimPrefix(file, "audit")
	download(w, format.contentType, name)
	if h.signer != nil {
		w.Header().Set(SignatureHeader, "ed25519="+base64.StdEncoding.EncodeToString(h.signer.Sign(buf.Bytes())))
	}
	_, _ = buf.WriteTo(w)
}

func (h *handler) export(w http.ResponseWriter, r *http.Request) {
	f, err := exportFilter(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cw := csv.NewWriter(w)
	flusher, _ := w.(http.Flusher)
	started, rows := false, 0
	start := func() {
		started = true
		download(w, "text/csv; charset=utf-8", "gatehouse-access-requests.csv")
		w.WriteHeader(http.StatusOK)
		_ = cw.Write(ExportHeader)
	}
	var rec []string
	err = h.reports.Export(r.Context(), f, func(row *ExportRow) error {
		if !started {
			start()
		}
		rec = exportRecord(row, rec)
		if err := cw.Write(rec); err != nil {
			return err
		}
		if rows++; rows%exportPage == 0 {
			cw.Flush()
			if flusher != nil {
				flusher.Flush()
			}
		}
		return cw.Error()
	})
	if err != nil {
		if !started {
			h.fail(w, r, err)
			return
		}
		// Headers are gone: cut the response so that the client sees an
		// incomplete download rather than a short, valid-looking file.
		h.log.ErrorContext(r.Context(), "reports: export failed", "error", err, "rows", rows)
		panic(http.ErrAbortHandler)
	}
	if !started {
		start()
	}
	cw.Flush()
}

// exportFilter parses the bulk export's query parameters.
func exportFilter(r *http.Request) (ExportFilter, error) {
	q := r.URL.Query()
	var f ExportFilter
	for _, p := range []struct {
		name string
		dst  **time.Time
		end  bool
	}{{"from", &f.From, false}, {"to", &f.To, true}} {
		v := strings.TrimSpace(q.Get(p.name))
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			day, derr := time.Parse(time.DateOnly, v)
			if derr != nil {
				return f, errcode.Invalid(p.name, "%q is neither an RFC 3339 time nor a date (YYYY-MM-DD)", v)
			}
			if t = day; p.end {
				t = day.AddDate(0, 0, 1) // through the whole day
			}
		}
		*p.dst = &t
	}
	f.Status = enum.RequestStatus(strings.TrimSpace(q.Get("status")))
	if app := strings.TrimSpace(q.Get("application")); app != "" {
		f.ApplicationID = pulid.ID(app)
		if f.ApplicationID.Prefix() != "app" {
			return f, errcode.Invalid("application", "%q is not an application ID", app)
		}
	}
	return f, nil
}

// download sets the headers of an attachment.
func download(w http.ResponseWriter, contentType, filename string) {
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
}

// statuses maps error codes to HTTP statuses.
var statuses = map[errcode.Code]int{
	errcode.Unauthenticated: http.StatusUnauthorized,
	errcode.Forbidden:       http.StatusForbidden,
	errcode.NotFound:        http.StatusNotFound,
	errcode.InvalidInput:    http.StatusBadRequest,
}

// fail writes err as a JSON error; uncoded errors are logged and shown as
// "internal error".
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := errcode.Of(err)
	status, ok := statuses[code]
	if !ok {
		h.log.ErrorContext(r.Context(), "reports", "error", err, "path", r.URL.Path)
		code, status = errcode.Internal, http.StatusInternalServerError
	}
	writeError(w, status, code, err)
}

func writeError(w http.ResponseWriter, status int, code errcode.Code, err error) {
	msg := err.Error()
	if code == errcode.Internal {
		msg = "internal error"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}

// authenticate puts the viewer of the request's bearer token in the context
// (the same rule as the GraphQL endpoint): no or refused credentials get 401.
func authenticate(a Authenticator, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := a.Authenticate(r.Context(), bearer(r.Header.Get("Authorization")))
		if err != nil {
			code, status := errcode.Unauthenticated, http.StatusUnauthorized
			if errcode.Of(err) != errcode.Unauthenticated {
				log.ErrorContext(r.Context(), "reports: authenticate", "error", err)
				code, status = errcode.Internal, http.StatusInternalServerError
			}
			writeError(w, status, code, err)
			return
		}
		if v == nil {
			writeError(w, http.StatusUnauthorized, errcode.Unauthenticated, errors.New("authentication required"))
			return
		}
		accesslog.SetPrincipal(r.Context(), string(v.UserID))
		next.ServeHTTP(w, r.WithContext(authz.NewContext(r.Context(), v)))
	})
}

func bearer(header string) string {
	const prefix = "bearer "
	if len(header) > len(prefix) && strings.EqualFold(header[:len(prefix)], prefix) {
		return strings.TrimSpace(header[len(prefix):])
	}
	return ""
}
