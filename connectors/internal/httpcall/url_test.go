package httpcall_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/internal/httpcall"
)

func TestURLField(t *testing.T) {
	t.Parallel()
	f := httpcall.URLField{Key: "url", Required: "where to send", Credentials: "the token comes from tokenEnv"}
	for _, tc := range []struct {
		v    any
		want string // the URL, or the error message
		ok   bool
	}{
		{"https://hooks.example.com/in?k=1", "https://hooks.example.com/in?k=1", true},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{nil, "url: required: where to send", false},
		{"", "url: required: where to send", false},
		{42, "url: must be a string", false},
		{"http://[::1", "url: not a valid URL", false},
		{"/relative", "url: must be an absolute http or https URL", false},
		{"ftp://files.example.com", `url: scheme "ftp" is not supported; use http or https`, false},
		{"https://ann:s3cret@hooks.example.com", "url: must not carry credentials; the token comes from tokenEnv", false},
	} {
		u, err := f.Parse(tc.v)
		if tc.ok {
			require.NoError(t, err)
			require.Equal(t, tc.want, u.String())
			continue
		}
		require.EqualError(t, err, tc.want, "%v", tc.v)
		_, ok := errors.AsType[*connectors.ConfigError](err)
		require.True(t, ok, "%v: a ConfigError names the key", tc.v)
	}
}
