package demo

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/httpserver"
)

// SignInPath is the demo sign-in, which the console's user picker calls.
// The server mounts it in demo mode only (--demo); elsewhere the path is
// not found.
const SignInPath = "/demo/sign-in"

// maxSignInBody bounds the body of a sign-in.
const maxSignInBody = 4 << 10

// SignInUser is a demo user the picker offers.
type SignInUser struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
}

// SignIn serves SignInPath: GET lists the demo users (IT admin first),
// POST {"email": E} answers {"token": T}, a token for demo user E minted by
// issue (the same tokens demo mode logs at start). Anyone on this machine
// may call it; requests from another host, or naming another host than
// this machine (Host), are refused (403), since the tokens it gives include
// an IT admin's. A POST body must be JSON (415
// otherwise). An email that is not a demo user's is refused (404).
func SignIn(client *ent.Client, issue func(pulid.ID) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The Host too: a page of another site whose name was made to point
		// at 127.0.0.1 (DNS rebinding) would otherwise be same-origin here.
		if !httpserver.IsLoopback(r.RemoteAddr) || !httpserver.IsLoopback(r.Host) {
			http.Error(w, "demo sign-in: only from this machine", http.StatusForbidden)
			return
		}
		members, err := Members(r.Context(), client)
		if err != nil {
			http.Error(w, "demo sign-in: internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		switch r.Method {
		case http.MethodGet:
			out := make([]SignInUser, len(members))
			for i, u := range members {
				out[i] = SignInUser{Email: u.Email, Name: u.Name, Role: string(u.PlatformRole)}
			}
			writeJSON(w, out)
		case http.MethodPost:
			// JSON only: a page of another origin cannot send it without
			// a preflight, which CORS refuses.
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				http.Error(w, "demo sign-in: the body must be application/json", http.StatusUnsupportedMediaType)
				return
			}
			var in struct {
				Email string `json:"email"`
			}
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSignInBody)).Decode(&in); err != nil {
				http.Error(w, `demo sign-in: the body must be {"email": "…"}`, http.StatusBadRequest)
				return
			}
			for _, u := range members {
				if strings.EqualFold(u.Email, strings.TrimSpace(in.Email)) {
					token, err := issue(u.ID)
					if err != nil {
						http.Error(w, "demo sign-in: internal error", http.StatusInternalServerError)
						return
					}
					writeJSON(w, map[string]string{"token": token})
					return
				}
			}
			http.Error(w, "demo sign-in: not a demo user", http.StatusNotFound)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "demo sign-in: GET or POST", http.StatusMethodNotAllowed)
		}
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
