// SPDX-License-Identifier: Apache-2.0
// The chain's Go tier (see README.md): a net/http server that calls the next
// tier with the default http.Client (pooled Transport), from the handler, or
// from a goroutine the handler starts and waits for when the path has a
// segment "g=goroutine".  Built by the test with Debian's golang-go (1.19).
//
//	gosvc -port P -next http://127.0.0.1:Q
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
)

var route = regexp.MustCompile(`^/r/([A-Za-z0-9_-]{1,64})(/|$)`)

// get fetches url with the default client: the body, or an error for a
// failure or a non-2xx answer.
func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return string(body), nil
}

func main() {
	port := flag.Int("port", 0, "port on 127.0.0.1")
	next := flag.String("next", "", "base URL of the next tier")
	flag.Parse()
	if *port <= 0 || *port > 65535 || *next == "" {
		fmt.Fprintln(os.Stderr, "usage: gosvc -port P -next http://127.0.0.1:Q")
		os.Exit(2)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		m := route.FindStringSubmatch(r.URL.Path)
		if r.Method != http.MethodGet || m == nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		id := m[1]
		url := *next + r.URL.Path
		var body string
		var err error
		if strings.Contains(r.URL.Path, "/g=goroutine") {
			done := make(chan struct{})
			go func() {
				defer close(done)
				body, err = get(url)
			}()
			<-done
		} else {
			body, err = get(url)
		}
		if err != nil {
			http.Error(w, fmt.Sprintf("go:%s: upstream: %v", id, err), http.StatusBadGateway)
			return
		}
		out := "go:" + id + ";" + body
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		io.WriteString(w, out)
	})
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosvc:", err)
		os.Exit(1)
	}
	fmt.Printf("{\"event\":\"listening\",\"tier\":\"go\",\"port\":%d,\"pid\":%d}\n", *port, os.Getpid())
	fmt.Fprintln(os.Stderr, http.Serve(ln, nil))
	os.Exit(1)
}
