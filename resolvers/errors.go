package resolvers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/ent"
	"gatehouse/ent/migrate"
	"gatehouse/ent/privacy"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// ErrorPresenter returns the presenter that gives every error one of the
// codes of DESIGN §6 in extensions.code. Errors it cannot classify are
// logged and shown as "internal error", so no SQL or internal detail reaches
// a client; at ERROR unless the request was cancelled (then at DEBUG).
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		code, message := classify(err, gqlErr)
		switch {
		case code == errcode.Internal && ctx.Err() != nil:
			// The request was cancelled (its client went away, or the
			// server is stopping): the failure is the cancellation's,
			// not a fault to alert on, and nobody reads the answer.
			log.DebugContext(ctx, "request cancelled", "error", err, "path", gqlErr.Path.String())
			message = "internal error"
		case code == errcode.Internal:
			log.ErrorContext(ctx, "internal error", "error", err, "path", gqlErr.Path.String())
			message = "internal error"
		case ent.IsConstraintError(err):
			log.WarnContext(ctx, "constraint violation", "error", err, "path", gqlErr.Path.String())
		}
		out := &gqlerror.Error{Message: message, Path: gqlErr.Path, Locations: gqlErr.Locations}
		out.Extensions = map[string]any{"code": string(code)}
		var (
			ce         *errcode.Error
			validation *ent.ValidationError
		)
		switch {
		case errors.As(err, &ce) && ce.Field != "":
			out.Extensions["field"] = ce.Field
		case ce != nil && ce.Unparsable():
			if field := inputField(gqlErr.Path); field != "" {
				out.Extensions["field"] = field
				out.Message = field + ": " + ce.Message
			}
		case errors.As(err, &validation):
			out.Extensions["field"] = graphQLName(validation.Name)
		case ent.IsConstraintError(err) && uniqueField(err) != "":
			out.Extensions["field"] = uniqueField(err)
		case gqlErr.Err == nil:
			// The limits name the field and count dropped errors.
			for _, k := range []string{"field", "dropped"} {
				if v, ok := gqlErr.Extensions[k]; ok {
					out.Extensions[k] = v
				}
			}
		}
		return out
	}
}

// classify returns the code and client message of err.
func classify(err error, gqlErr *gqlerror.Error) (errcode.Code, string) {
	var (
		coded      *errcode.Error
		validation *ent.ValidationError
	)
	switch {
	case errors.As(err, &coded):
		return coded.Code, coded.Message
	case ent.IsNotFound(err):
		return errcode.NotFound, "not found"
	case errors.As(err, &validation):
		return errcode.InvalidInput, fmt.Sprintf("%s: %v", graphQLName(validation.Name), validatorCause(validation))
	case ent.IsConstraintError(err):
		// The checks before a write name the field; a constraint still
		// fails when a concurrent write took the value in between.
		if field := uniqueField(err); field != "" {
			return errcode.Conflict, field + ": already taken by another record"
		}
		return errcode.Conflict, "conflicts with an existing record"
	case errors.Is(err, authz.ErrNoViewer):
		return errcode.Unauthenticated, "authentication required"
	case errors.Is(err, privacy.Deny):
		return errcode.Forbidden, "not allowed"
	}
	if gqlErr.Err == nil {
		// gqlgen and gqlparser built this error themselves (parse and
		// validation failures, limits): its message is meant for clients.
		message := gqlErr.Message
		// gqlgen's POST transport echoes the whole body after a JSON error.
		if strings.HasPrefix(message, undecodableBody) {
			if i := strings.Index(message, " body:"); i >= 0 {
				message = message[:i]
			}
		}
		switch c, _ := gqlErr.Extensions["code"].(string); errcode.Code(c) {
		case errcode.NotFound, errcode.Forbidden, errcode.Unauthenticated, errcode.InvalidInput:
			return errcode.Code(c), message
		}
		return errcode.InvalidInput, message
	}
	return errcode.Internal, ""
}

// uniqueColumns maps the name of each unique constraint of the schema, as
// PostgreSQL names it, to its columns: "<table>_<column>_key" for a unique
// field, the index name for a unique index.
var uniqueColumns = func() map[string][]string {
	m := map[string][]string{}
	for _, t := range migrate.Tables {
		for _, c := range t.Columns {
			if c.Unique {
				m[t.Name+"_"+c.Name+"_key"] = []string{c.Name}
			}
		}
		for _, i := range t.Indexes {
			if i.Unique {
				cols := make([]string, len(i.Columns))
				for k, c := range i.Columns {
					cols[k] = c.Name
				}
				m[i.Name] = cols
			}
		}
	}
	return m
}()

var (
	pgUnique     = regexp.MustCompile(`violates unique constraint "([^"]+)"`)
	sqliteUnique = regexp.MustCompile(`UNIQUE constraint failed: ([\w.]+(?:, [\w.]+)*)`)
)

// uniqueField returns the GraphQL name of the field whose unique constraint
// err violated: the column of a one-column constraint, the last column of a
// composite one (the value unique within its parent, such as an
// entitlement's externalID within its application). It returns "" for
// other constraint errors (foreign keys).
func uniqueField(err error) string {
	var cols []string
	msg := err.Error()
	if m := pgUnique.FindStringSubmatch(msg); m != nil {
		cols = uniqueColumns[m[1]]
	} else if m := sqliteUnique.FindStringSubmatch(msg); m != nil {
		for _, tc := range strings.Split(m[1], ", ") {
			_, col, _ := strings.Cut(tc, ".")
			cols = append(cols, col)
		}
	}
	if len(cols) == 0 {
		return ""
	}
	return graphQLName(cols[len(cols)-1])
}

// undecodableBody starts gqlgen's message for a body that is not JSON.
const undecodableBody = "json request body could not be decoded"

// inputField returns the last name in the path of an argument or input
// field ("endsAt" in submitAccessRequest.input.endsAt).
func inputField(path ast.Path) string {
	for i := len(path) - 1; i >= 0; i-- {
		if name, ok := path[i].(ast.PathName); ok {
			return string(name)
		}
	}
	return ""
}

// graphQLName turns an ent field name (max_access_duration, owner_id) into
// its GraphQL name (maxAccessDuration, ownerID).
func graphQLName(field string) string {
	parts := strings.Split(field, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] == "id" {
			parts[i] = "ID"
		} else if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// validatorCause returns the validator's own error, without ent's prefix
// naming the Go type and field.
func validatorCause(v *ent.ValidationError) error {
	cause := errors.Unwrap(v)
	if inner := errors.Unwrap(cause); inner != nil {
		return inner
	}
	return cause
}
