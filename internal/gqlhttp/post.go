// Package gqlhttp is the POST transport of the GraphQL endpoint: gqlgen's
// transport.POST, but reading the body once, showing it to a check before
// it is decoded (the document limits), and writing a response's data as
// the executor wrote it.
//
// gqlgen's transport json.Marshals the whole response; its data is already
// JSON (a json.RawMessage), which encoding/json validates and compacts byte
// by byte again: a tenth of the CPU of a large query. Here the data is
// copied as is, the rest of the response (errors, extensions) marshalled as
// gqlgen would, and the answer has a Content-Length.
package gqlhttp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/internal/gqlexec"
)

const (
	applicationJSON = "application/json"
	graphqlResponse = "application/graphql-response+json"
)

// POST takes requests as gqlgen's transport.POST does (POST,
// Content-Type application/json) and answers alike: the content type the
// Accept header asks for (application/json when it asks for none), status
// 422 (application/json) or 400 (application/graphql-response+json) for a
// document that fails to parse or validate, 400 for a body that is not
// JSON.
type POST struct {
	// Check, when set, sees the body before it is decoded; a body it
	// refuses is answered with its error: status 200 with
	// application/json, 400 with application/graphql-response+json.
	Check func(body []byte) *gqlerror.Error
}

var _ graphql.Transport = POST{}

// Supports reports whether the request is a JSON POST.
func (POST) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" || r.Method != http.MethodPost {
		return false
	}
	t, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && t == applicationJSON
}

// Do reads the request, runs it and writes its response.
func (p POST) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	contentType := responseType(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", contentType)
	start := graphql.Now()
	body, err := readBody(r)
	if err != nil {
		Write(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("could not read request body: %+v", err)}))
		return
	}
	if p.Check != nil {
		if err := p.Check(body); err != nil {
			if contentType == graphqlResponse {
				w.WriteHeader(http.StatusBadRequest)
			}
			Write(w, exec.DispatchError(ctx, gqlerror.List{err}))
			return
		}
	}
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		Write(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("json request body could not be decoded: %+v body:%s", err, body)}))
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			status := http.StatusUnprocessableEntity
			if contentType == graphqlResponse {
				status = http.StatusBadRequest
			}
			w.WriteHeader(status)
		}
		Write(w, exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, oc)
	res := responses(ctx)
	Write(w, res)
	// Written, the data is referred to by nothing else.
	gqlexec.Release(res.Data)
}

// readBody reads the body, in one allocation when its length is announced.
// The handler in front bounds the body (resolvers' requestErrors answers
// 413 past its limit), and net/http ends it at its Content-Length.
func readBody(r *http.Request) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, max(r.ContentLength, 0)+bytes.MinRead))
	_, err := buf.ReadFrom(r.Body)
	return buf.Bytes(), err
}

// responseType is the content type of the answer to a request with the
// given Accept header, chosen as gqlgen's transport chooses it.
func responseType(accept string) string {
	if accept == "" {
		return applicationJSON
	}
	for part := range strings.SplitSeq(accept, ",") {
		t, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch t {
		case "*/*", "application/*", applicationJSON:
			return applicationJSON
		case graphqlResponse:
			return graphqlResponse
		}
	}
	return graphqlResponse
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// internalError is the answer to a response that cannot be encoded.
const internalError = `{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}],"data":null}`

// Write writes res as encoding/json writes a graphql.Response, but with its
// data as it is (the executor wrote it as JSON), and with a Content-Length
// when the status has not been written yet. A response whose errors or
// extensions cannot be marshalled (an extension value that is not JSON) is
// answered 500 with one INTERNAL error, where gqlgen's transport panics.
func Write(w http.ResponseWriter, res *graphql.Response) {
	buf := buffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			buffers.Put(buf)
		}
	}()
	head, tail, err := frame(buf, res)
	if err != nil {
		w.Header().Set("Content-Length", strconv.Itoa(len(internalError)))
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, internalError)
		return
	}
	data := []byte(res.Data)
	if data == nil {
		data = []byte("null")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+len(data)+len(tail)))
	_, _ = w.Write(head)
	_, _ = w.Write(data)
	_, _ = w.Write(tail)
}

// frame writes into buf what goes before and after the response's data,
// the fields in graphql.Response's order, and returns the two parts.
func frame(buf *bytes.Buffer, res *graphql.Response) (head, tail []byte, err error) {
	add := func(name string, value any) {
		if err == nil {
			buf.WriteByte(',')
			err = field(buf, name, value)
		}
	}
	buf.WriteByte('{')
	if len(res.Errors) > 0 {
		err = field(buf, "errors", res.Errors)
		buf.WriteByte(',')
	}
	buf.WriteString(`"data":`)
	n := buf.Len()
	if res.Label != "" {
		add("label", res.Label)
	}
	if len(res.Path) > 0 {
		add("path", res.Path)
	}
	if res.HasNext != nil {
		add("hasNext", res.HasNext)
	}
	if len(res.Extensions) > 0 {
		add("extensions", res.Extensions)
	}
	buf.WriteByte('}')
	return buf.Bytes()[:n], buf.Bytes()[n:], err
}

// field writes "name":value, value marshalled by encoding/json.
func field(buf *bytes.Buffer, name string, value any) error {
	b, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("marshal the response's %s: %w", name, err)
	}
	buf.WriteString(`"` + name + `":`)
	buf.Write(b)
	return nil
}
