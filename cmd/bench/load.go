package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// call is one GraphQL request to make: its body and bearer token.
type call struct {
	body  []byte
	token string
}

// loadResult is what one closed-loop run measured on the client side.
type loadResult struct {
	ok, errors int
	elapsed    time.Duration
	latencies  []time.Duration
	firstError string
	// exhausted is set when the operation ran out of work (no task left to
	// decide) before the time was up.
	exhausted bool
}

func (r loadResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

func (r loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
}

// runLoad keeps conc requests in flight for d: each worker sends the next
// call as soon as its previous one is answered. next returns false when no
// work is left. A response counts as an error when its status is not 200 or
// it carries GraphQL errors.
func runLoad(ctx context.Context, hc *http.Client, url string, conc int, d time.Duration, next func() (call, bool)) loadResult {
	var (
		mu  sync.Mutex
		res loadResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			ok, errs, exhausted, firstErr := 0, 0, false, ""
			for time.Now().Before(deadline) && ctx.Err() == nil {
				c, more := next()
				if !more {
					exhausted = true
					break
				}
				t0 := time.Now()
				_, err := post(ctx, hc, url, c)
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				ok++
			}
			mu.Lock()
			res.ok += ok
			res.errors += errs
			res.latencies = append(res.latencies, lat...)
			res.exhausted = res.exhausted || exhausted
			if res.firstError == "" {
				res.firstError = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

// post sends one GraphQL request and returns its body; GraphQL errors are
// errors.
func post(ctx context.Context, hc *http.Client, url string, c call) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(c.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"errors":`)) {
		return body, fmt.Errorf("status %d: %.300s", resp.StatusCode, body)
	}
	return body, nil
}

func gqlBody(query string, vars map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		panic(err)
	}
	return b
}

// cpuTime returns the user and system CPU time process pid has used, from
// /proc/<pid>/stat (clock ticks of 10 ms).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; count fields after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// goAllocs reads a Go server's allocation counters from its /metrics:
// objects and bytes allocated since it started.
func goAllocs(ctx context.Context, hc *http.Client, metricsURL string) (objects, bytes float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "go_memstats_mallocs_total":
			objects, _ = strconv.ParseFloat(value, 64)
		case "go_memstats_alloc_bytes_total":
			bytes, _ = strconv.ParseFloat(value, 64)
		}
	}
	return objects, bytes, sc.Err()
}

// loadAverage returns the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
