package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bodyLoad is the large-body load of `ward load -bodies N`: N request
// bodies of min..max MB, sent by c workers to POST base/fhir/R4/{type}, a
// third each of (0) a valid Binary the server stores, (1) malformed JSON
// (a Patient cut short) and (2) valid JSON that is not a valid resource (a
// Patient with a long array of numbers under an unknown element). Sizes
// are drawn with a fixed seed, so runs send the same bytes. With pid (the
// server's process, on this machine) it reports the server's resident
// memory: before, peak (the kernel's high-water mark) and settled, at the
// given delays after the last answer.
type bodyLoad struct {
	base, token    string
	n, c           int
	minMB, maxMB   float64
	pid            int
	settle         []time.Duration
	statusesByKind [3]map[int]int
}

func (b *bodyLoad) run(ctx context.Context) error {
	before, err := rss(b.pid)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Minute}
	sizes := b.sizes()
	var mu sync.Mutex
	for k := range b.statusesByKind {
		b.statusesByKind[k] = map[int]int{}
	}
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range b.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				status := b.send(ctx, client, i%3, sizes[i])
				mu.Lock()
				b.statusesByKind[i%3][status]++
				mu.Unlock()
			}
		}()
	}
	for i := range b.n {
		work <- i
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("bodies: %d sent by %d workers in %s\n", b.n, b.c, elapsed.Round(time.Millisecond))
	for k, name := range []string{"valid Binary", "malformed JSON", "invalid resource"} {
		fmt.Printf("  %-16s statuses %v\n", name, b.statusesByKind[k])
	}
	return b.report(ctx, before)
}

// sizes returns the body size of each request, in bytes.
func (b *bodyLoad) sizes() []int {
	r := rand.New(rand.NewPCG(10, 3))
	out := make([]int, b.n)
	for i := range out {
		mb := b.minMB + r.Float64()*(b.maxMB-b.minMB)
		out[i] = int(mb * 1e6)
	}
	return out
}

// send posts one body of kind and size and returns the status (0 when
// the request failed).
func (b *bodyLoad) send(ctx context.Context, client *http.Client, kind, size int) int {
	typ, body := bigBody(kind, size)
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(b.base, "/")+"/fhir/R4/"+typ, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	if b.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// bigBody builds a body of about size bytes of kind (see bodyLoad).
func bigBody(kind, size int) (string, []byte) {
	var buf bytes.Buffer
	buf.Grow(size + 64)
	switch kind {
	case 0:
		buf.WriteString(`{"resourceType":"Binary","contentType":"application/octet-stream","data":"`)
		for buf.Len() < size-2 {
			buf.WriteString("QUJD")
		}
		buf.WriteString(`"}`)
		return "Binary", buf.Bytes()
	case 1:
		buf.WriteString(`{"resourceType":"Patient","name":[{"family":"`)
		for buf.Len() < size {
			buf.WriteString("abcdefgh")
		}
		return "Patient", buf.Bytes() // cut short: no closing quote or braces
	}
	buf.WriteString(`{"resourceType":"Patient","unknownElement":[0`)
	for buf.Len() < size-2 {
		buf.WriteString(",1")
	}
	buf.WriteString(`]}`)
	return "Patient", buf.Bytes()
}

// report prints the server's resident memory before, at peak and after
// each settle delay.
func (b *bodyLoad) report(ctx context.Context, before rssFigures) error {
	now, err := rss(b.pid)
	if err != nil {
		return err
	}
	fmt.Printf("server RSS: before %s, peak %s, at end %s\n", mib(before.rss), mib(now.peak), mib(now.rss))
	start := time.Now()
	for _, d := range b.settle {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d - time.Since(start)):
		}
		now, err := rss(b.pid)
		if err != nil {
			return err
		}
		fmt.Printf("server RSS %s after the load: %s\n", d, mib(now.rss))
	}
	return nil
}

type rssFigures struct{ rss, peak int64 } // bytes

// rss reads the resident set size and its high-water mark of process pid
// from /proc (Linux); pid 0 reports nothing.
func rss(pid int) (rssFigures, error) {
	if pid == 0 {
		return rssFigures{}, nil
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rssFigures{}, err
	}
	var f rssFigures
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if name == "VmRSS" {
			f.rss = kb << 10
		} else {
			f.peak = kb << 10
		}
	}
	return f, nil
}

func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }
