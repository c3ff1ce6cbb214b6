package connectors

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// This file holds the one rule by which connectors find their secrets (a
// webhook's signing secret, a SCIM token, a connection string): a
// configuration never holds a secret, only a reference into the
// connector-secret namespace, which is
//
//   - the environment variables whose names start with SecretEnvPrefix
//     (GATEHOUSE_SECRET_…), and
//   - the regular files directly inside the secrets directory the server is
//     given (GATEHOUSE_SECRETS_DIR), named by plain file names.
//
// The server's own settings (GATEHOUSE_JWT_SECRET, DATABASE_URL, …) and any
// other variable or file are out of reach: a reference to them is refused
// from its spelling alone, before anything is looked up, so the refusal says
// nothing about whether they exist.

// SecretEnvPrefix starts the name of every environment variable a connector
// configuration may refer to.
const SecretEnvPrefix = "GATEHOUSE_SECRET_"

// maxSecretFile bounds the size of a secret file.
const maxSecretFile = 64 << 10

var (
	// envNamePattern is what any environment variable name looks like; a
	// value that does not is most likely the secret itself.
	envNamePattern = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	// secretEnvPattern is a name in the connector-secret namespace.
	secretEnvPattern = regexp.MustCompile(`^GATEHOUSE_SECRET_[A-Z0-9_]+$`)
	// secretFilePattern is a plain file name: no separator, no leading dot
	// (so neither "." nor ".." nor hidden files).
	secretFilePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
)

// Errors of Secrets.Secret, for errors.Is.
var (
	// ErrSecretOutsideNamespace: the reference names a variable outside
	// GATEHOUSE_SECRET_* or a file name that is not a plain name.
	ErrSecretOutsideNamespace = errors.New("outside the connector-secret namespace")
	// ErrSecretNotFound: the variable is unset, or the secrets directory
	// holds no regular file of that name.
	ErrSecretNotFound = errors.New("secret not found")
	// ErrNoSecretsDir: a file is referred to but the server has no secrets
	// directory.
	ErrNoSecretsDir = errors.New("no secrets directory is configured")
)

// SecretRef refers to one connector secret: exactly one of Env (the name of
// a GATEHOUSE_SECRET_* environment variable) and File (the plain name of a
// file in the secrets directory) is set.
type SecretRef struct {
	Env  string
	File string
}

// String returns "env:<name>" or "file:<name>", the form audit events record.
func (r SecretRef) String() string {
	if r.File != "" {
		return "file:" + r.File
	}
	return "env:" + r.Env
}

// inNamespace reports whether r is well formed and inside the namespace.
func (r SecretRef) inNamespace() bool {
	switch {
	case r.Env != "" && r.File == "":
		return secretEnvPattern.MatchString(r.Env)
	case r.File != "" && r.Env == "":
		return secretFilePattern.MatchString(r.File) && !strings.Contains(r.File, "..")
	}
	return false
}

// Secrets finds the secrets connector configurations refer to. Kinds take
// one when they are built; server.go builds the only implementation, a
// *SecretStore, so that every kind follows the same rule.
type Secrets interface {
	// Secret returns the value r refers to. Errors wrap
	// ErrSecretOutsideNamespace, ErrSecretNotFound or ErrNoSecretsDir, and
	// never contain a secret value.
	Secret(r SecretRef) (string, error)
}

// SecretStore is the connector-secret namespace of one server: the
// GATEHOUSE_SECRET_* variables of its environment and the files of its
// secrets directory. It is safe for concurrent use and reads at each call,
// so a rotated secret takes effect at the next Open.
type SecretStore struct {
	lookupEnv func(string) (string, bool)
	dir       string
}

var _ Secrets = (*SecretStore)(nil)

// NewSecretStore returns the store reading variables through lookupEnv
// (server.go passes the process environment; a nil lookupEnv finds none)
// and files in dir ("" means no directory). lookupEnv is only ever asked for
// names that start with SecretEnvPrefix.
func NewSecretStore(lookupEnv func(string) (string, bool), dir string) *SecretStore {
	return &SecretStore{lookupEnv: lookupEnv, dir: dir}
}

// Secret implements Secrets. A variable is returned as it is set; a file's
// content loses one trailing line break ("\n" or "\r\n"), which editors and
// `echo` add. Files are opened through an os.Root on the directory, so a
// symbolic link may point within the directory (as Kubernetes secret volumes
// do) but never out of it; a file must be regular and at most 64 KiB.
func (s *SecretStore) Secret(r SecretRef) (string, error) {
	if !r.inNamespace() {
		return "", ErrSecretOutsideNamespace
	}
	if r.Env != "" {
		if s.lookupEnv == nil {
			return "", ErrSecretNotFound
		}
		v, ok := s.lookupEnv(r.Env)
		if !ok {
			return "", ErrSecretNotFound
		}
		return v, nil
	}
	if s.dir == "" {
		return "", ErrNoSecretsDir
	}
	return readSecretFile(s.dir, r.File)
}

func readSecretFile(dir, name string) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("%w: the secrets directory cannot be opened", ErrSecretNotFound)
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		// Missing, unreadable or a link leading out of the directory: all
		// the same to the caller.
		return "", ErrSecretNotFound
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return "", ErrSecretNotFound
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", ErrSecretNotFound
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%w: the file is larger than %d KiB", ErrSecretNotFound, maxSecretFile>>10)
	}
	v := string(b)
	if t, ok := strings.CutSuffix(v, "\n"); ok {
		v = strings.TrimSuffix(t, "\r")
	}
	return v, nil
}

// SecretField describes one secret a kind needs, given in its
// configuration by exactly one of two keys: EnvKey, the name of a
// GATEHOUSE_SECRET_* environment variable, or FileKey, the name of a file in
// the secrets directory. Kinds declare one per secret and resolve it with
// Resolve.
type SecretField struct {
	// EnvKey is the configuration key naming a variable, e.g. "secretEnv".
	EnvKey string
	// FileKey is the configuration key naming a file, e.g. "secretFile".
	FileKey string
	// Holds says in full what the secret is, e.g. "signing secret".
	Holds string
	// Short is the same said briefly, e.g. "secret".
	Short string
	// Example is a valid variable name to suggest, e.g.
	// "GATEHOUSE_SECRET_HR_WEBHOOK".
	Example string
}

// KeyGiven returns the key of config that names the secret: FileKey when it
// is given, else EnvKey. Kinds name it in errors about the secret's value.
func (f SecretField) KeyGiven(config map[string]any) string {
	if v, ok := config[f.FileKey]; ok && v != nil && v != "" {
		return f.FileKey
	}
	return f.EnvKey
}

// Ref reads the reference config gives, without looking it up. Errors are
// *ConfigError naming the key:
//
//	EnvKey  "required: the name of a GATEHOUSE_SECRET_* environment variable
//	        holding the <Holds>, or <FileKey>: a file in the secrets directory"
//	                           when neither key is given
//	FileKey "give either <EnvKey> or <FileKey>, not both"
//	either  "must be a string: …"
//	EnvKey  "give the name of the environment variable holding the <Short>
//	        (e.g. <Example>), not the <Short> itself"
//	                           when the value is not a variable name
//	EnvKey  "must name a variable of the connector-secret namespace
//	        GATEHOUSE_SECRET_* (e.g. <Example>); the server's own settings
//	        are not readable by connectors"
//	                           for any other variable name
//	FileKey "must be the plain name of a file in the secrets directory
//	        (letters, digits, '.', '_' and '-', not starting with '.'; no '/'
//	        or '..')"
//
// Each message depends only on the spelling of the value, never on whether
// a variable or file of that name exists, and never repeats the value (it
// may be the secret itself, pasted by mistake).
func (f SecretField) Ref(config map[string]any) (SecretRef, error) {
	bad := func(key, msg string) (SecretRef, error) {
		return SecretRef{}, &ConfigError{Key: key, Message: msg}
	}
	ev, haveEnv := config[f.EnvKey]
	fv, haveFile := config[f.FileKey]
	haveEnv = haveEnv && ev != nil && ev != ""
	haveFile = haveFile && fv != nil && fv != ""
	switch {
	case !haveEnv && !haveFile:
		return bad(f.EnvKey, fmt.Sprintf("required: the name of a %s* environment variable holding the %s, or %s: a file in the secrets directory", SecretEnvPrefix, f.Holds, f.FileKey))
	case haveEnv && haveFile:
		return bad(f.FileKey, fmt.Sprintf("give either %s or %s, not both", f.EnvKey, f.FileKey))
	case haveEnv:
		name, ok := ev.(string)
		switch {
		case !ok:
			return bad(f.EnvKey, fmt.Sprintf("must be a string: the name of a %s* environment variable holding the %s", SecretEnvPrefix, f.Holds))
		case !envNamePattern.MatchString(name):
			return bad(f.EnvKey, fmt.Sprintf("give the name of the environment variable holding the %s (e.g. %s), not the %s itself", f.Short, f.Example, f.Short))
		case !secretEnvPattern.MatchString(name):
			return bad(f.EnvKey, fmt.Sprintf("must name a variable of the connector-secret namespace %s* (e.g. %s); the server's own settings are not readable by connectors", SecretEnvPrefix, f.Example))
		}
		return SecretRef{Env: name}, nil
	default:
		name, ok := fv.(string)
		if !ok {
			return bad(f.FileKey, "must be a string: the name of a file in the secrets directory holding the "+f.Holds)
		}
		r := SecretRef{File: name}
		if !r.inNamespace() {
			return bad(f.FileKey, "must be the plain name of a file in the secrets directory (letters, digits, '.', '_' and '-', not starting with '.'; no '/' or '..')")
		}
		return r, nil
	}
}

// Resolve reads the reference config gives (see Ref) and returns the
// secret it refers to, found through s (a nil s finds nothing). A value that
// is empty or white space only is refused; otherwise it is returned as s
// gives it, and kinds make their own further checks. Beyond Ref's, errors
// are *ConfigError naming the key given, with the message
//
//	"the environment variable named here is not set on this server"
//	"the environment variable named here is empty on this server"
//	"no secrets directory is configured on this server (GATEHOUSE_SECRETS_DIR)"
//	"the secrets directory holds no readable file of this name"
//	"the file named here is empty"
//
// Only names inside the namespace are ever looked up, so these tell an IT
// admin no more than which connector secrets the server has.
func (f SecretField) Resolve(s Secrets, config map[string]any) (string, error) {
	r, err := f.Ref(config)
	if err != nil {
		return "", err
	}
	key := f.EnvKey
	if r.File != "" {
		key = f.FileKey
	}
	var v string
	if s == nil {
		err = ErrSecretNotFound
	} else {
		v, err = s.Secret(r)
	}
	switch {
	case errors.Is(err, ErrNoSecretsDir):
		return "", &ConfigError{Key: key, Message: "no secrets directory is configured on this server (GATEHOUSE_SECRETS_DIR)"}
	case err != nil && r.File != "":
		return "", &ConfigError{Key: key, Message: "the secrets directory holds no readable file of this name"}
	case err != nil:
		return "", &ConfigError{Key: key, Message: "the environment variable named here is not set on this server"}
	case strings.TrimSpace(v) == "":
		if r.File != "" {
			return "", &ConfigError{Key: key, Message: "the file named here is empty"}
		}
		return "", &ConfigError{Key: key, Message: "the environment variable named here is empty on this server"}
	}
	return v, nil
}
