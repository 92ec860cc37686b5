// SPDX-License-Identifier: Apache-2.0
// A tiny net/http service for tests/bench/overhead.sh: 200 and 512 bytes,
// keep-alive.  Built by the script with Debian's golang-go (1.19).
//
//	bench_server PORT
//
// Prints {"event":"listening","port":N,"pid":P} once listening.
package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bench_server PORT")
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil || port <= 0 || port > 65535 {
		fmt.Fprintln(os.Stderr, "bench_server: bad port", os.Args[1])
		os.Exit(2)
	}
	body := bytes.Repeat([]byte("x"), 512)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench_server:", err)
		os.Exit(1)
	}
	fmt.Printf("{\"event\":\"listening\",\"port\":%d,\"pid\":%d}\n", port, os.Getpid())
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	fmt.Fprintln(os.Stderr, http.Serve(ln, nil))
	os.Exit(1)
}
