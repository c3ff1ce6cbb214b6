package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// process is a server the harness started: Gatehouse or PostGraphile.
type process struct {
	name string
	cmd  *exec.Cmd
	url  string // GraphQL endpoint
	base string // http://host:port
	log  string // file holding its output
	// exited receives the process's end once.
	exited chan error
}

// startProcess starts cmd with its output in dir/name.log and waits until
// GET base+ready answers 200 (or any status when ready is "").
func startProcess(ctx context.Context, name, dir string, cmd *exec.Cmd, base, path, ready string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	f.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p := &process{name: name, cmd: cmd, url: base + path, base: base, log: logPath, exited: exited}
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s exited (%v):\n%s", name, err, tail(string(out), 2000))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		target := base + ready
		if ready == "" {
			target = p.url
		}
		resp, err := hc.Get(target)
		if err == nil {
			resp.Body.Close()
			if ready == "" || resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
	}
	p.stop()
	return nil, fmt.Errorf("%s did not become ready; see %s", name, logPath)
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop interrupts the process and waits for it to exit, killing it after
// 10 seconds.
func (p *process) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// freeAddr returns a free 127.0.0.1 port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startPostGraphile installs PostGraphile from bench/postgraphile's lock
// file when it is missing (npm ci) and starts it on dsn's database, schema
// public, without its generated mutations.
func startPostGraphile(ctx context.Context, root, dir, dsn string) (*process, error) {
	pkg := filepath.Join(root, "bench", "postgraphile")
	bin := filepath.Join(pkg, "node_modules", ".bin", "postgraphile")
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintln(os.Stderr, "bench: installing PostGraphile (npm ci in bench/postgraphile)")
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir, cmd.Stdout, cmd.Stderr = pkg, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("npm ci in %s: %w", pkg, err)
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-c", dsn, "-s", "public", "--disable-default-mutations",
		"--disable-query-log", "-n", host, "-p", port)
	cmd.Env = append(os.Environ(), "NODE_ENV=production")
	return startProcess(ctx, "postgraphile", dir, cmd, "http://"+addr, "/graphql", "")
}

// pgbenchResult is what one pgbench run reported.
type pgbenchResult struct {
	tps       float64
	latencies []time.Duration
}

func (r pgbenchResult) percentile(p float64) time.Duration {
	return loadResult{latencies: r.latencies}.percentile(p)
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench replays script (one transaction = one operation's statements)
// with conc clients for d, each statement prepared once per connection as
// the server's pool does (database.PostgresConnector), and reads the
// per-transaction log for the latencies.
func runPgbench(ctx context.Context, dir, dsn, script string, conc int, d time.Duration) (pgbenchResult, error) {
	var res pgbenchResult
	logDir, err := os.MkdirTemp(dir, "pgbench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(logDir)
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, "pgbench", "-n", "-M", "prepared", "-c", strconv.Itoa(conc),
		"-j", "2", "-T", strconv.Itoa(secs), "-f", script, "-l", "--log-prefix", filepath.Join(logDir, "tx"), dsn)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("pgbench: %w\n%s", err, tail(string(out), 2000))
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return res, fmt.Errorf("pgbench: no tps in its output:\n%s", tail(string(out), 2000))
	}
	res.tps, _ = strconv.ParseFloat(string(m[1]), 64)
	files, _ := filepath.Glob(filepath.Join(logDir, "tx*"))
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return res, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// client_id transaction_no time script_no time_epoch time_us
			fields := strings.Fields(sc.Text())
			if len(fields) >= 3 {
				if us, err := strconv.ParseInt(fields[2], 10, 64); err == nil {
					res.latencies = append(res.latencies, time.Duration(us)*time.Microsecond)
				}
			}
		}
		f.Close()
	}
	slices.Sort(res.latencies)
	return res, nil
}

// writeScript writes the statements as a pgbench script file.
func writeScript(path string, stmts []wireStatement) error {
	if len(stmts) == 0 {
		return errors.New("no statements captured")
	}
	var b strings.Builder
	for _, s := range stmts {
		b.WriteString(strings.TrimRight(strings.TrimSpace(s.Literal()), ";"))
		b.WriteString(";\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
