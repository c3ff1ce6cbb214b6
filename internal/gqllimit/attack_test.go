package gqllimit_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// The expensive documents of the security review, built at any size. Each
// must be refused before validation, in milliseconds.

// conflictingAliases selects n fields under one alias: x: id x: email …
func conflictingAliases(n int) string {
	var b strings.Builder
	b.WriteString("{ viewer {")
	for i := range n {
		if i%2 == 0 {
			b.WriteString(" x: id")
		} else {
			b.WriteString(" x: email")
		}
	}
	b.WriteString(" } }")
	return b.String()
}

// repeatedFields selects id n times.
func repeatedFields(n int) string {
	return "{ viewer {" + strings.Repeat(" id", n) + " } }"
}

// fragmentFanOut chains n fragments, each spreading the next twice: the
// expansion has 2^n fields.
func fragmentFanOut(n int) string {
	var b strings.Builder
	b.WriteString("{ viewer { ...F0 } }")
	for i := range n - 1 {
		fmt.Fprintf(&b, " fragment F%d on User { id ...F%d ...F%d }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on User { id }", n-1)
	return b.String()
}

const deepFilterQuery = `query($w: UserWhereInput) { users(where: $w) { totalCount } }`

// deepFilterBody is a request body whose variable nests not n levels.
func deepFilterBody(n int) string {
	q, _ := json.Marshal(deepFilterQuery)
	return `{"query":` + string(q) + `,"variables":{"w":` + strings.Repeat(`{"not":`, n) +
		`{"nameContains":"a"}` + strings.Repeat("}", n) + `}}`
}

func queryBody(q string) string {
	b, _ := json.Marshal(map[string]string{"query": q})
	return string(b)
}

// deepFilterLiteral nests not n levels in the document itself.
func deepFilterLiteral(n int) string {
	return "{ users(where: " + strings.Repeat("{not: ", n) + `{nameContains: "a"}` + strings.Repeat("}", n) + ") { totalCount } }"
}

// attacks are the documents at the sizes the review sent (scale 1), at ten
// times those sizes, and (scale 0) the largest of each kind that the cheap
// checks of the body and the token count let through to the parser.
func attacks(scale int) []struct{ name, body string } {
	if scale == 0 {
		return []struct{ name, body string }{
			{"ConflictingAliases", queryBody(conflictingAliases(600))},
			{"RepeatedFields", queryBody(repeatedFields(1990))},
			{"FragmentFanOut", queryBody(fragmentFanOut(180))},
			{"DeepFilter", queryBody(deepFilterLiteral(450))},
		}
	}
	return []struct{ name, body string }{
		{"ConflictingAliases", queryBody(conflictingAliases(3500 * scale))},
		{"RepeatedFields", queryBody(repeatedFields(4000 * scale))},
		{"FragmentFanOut", queryBody(fragmentFanOut(23 * scale))},
		{"DeepFilter", deepFilterBody(5000 * scale)},
	}
}

// BenchmarkRefuse sends each expensive document through the production
// handler (authentication, body reading, JSON decoding, the limits, the
// error presenter and the response encoding) and measures the refusal.
func BenchmarkRefuse(b *testing.B) {
	env := apitest.New(b, dbtest.NewSQLite(b))
	token := env.Token(b, env.User(b, "u@example.com", enum.PlatformRoleUser))
	// Baseline: a trivial query that runs, for the cost of the handler
	// itself (authentication, JSON, response) on the machine at hand.
	b.Run("Baseline/typename", func(b *testing.B) {
		body := queryBody("{ __typename }")
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			env.Handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("%d: %s", rec.Code, rec.Body)
			}
		}
	})
	for _, scale := range []int{1, 10, 0} {
		for _, a := range attacks(scale) {
			size := fmt.Sprintf("x%d", scale)
			if scale == 0 {
				size = "parsed"
			}
			b.Run(a.name+"/"+size, func(b *testing.B) {
				send := func() *httptest.ResponseRecorder {
					req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(a.body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+token)
					rec := httptest.NewRecorder()
					env.Handler.ServeHTTP(rec, req)
					return rec
				}
				var res struct {
					Errors []struct {
						Message    string
						Extensions struct{ Code string }
					}
				}
				rec := send()
				require.NoError(b, json.Unmarshal(rec.Body.Bytes(), &res), "%s", rec.Body)
				require.NotEmpty(b, res.Errors)
				require.Equal(b, "INVALID_INPUT", res.Errors[0].Extensions.Code, "%s", rec.Body)
				b.Logf("%d bytes: %s", len(a.body), res.Errors[0].Message)
				b.SetBytes(int64(len(a.body)))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					send()
				}
			})
		}
	}
}
