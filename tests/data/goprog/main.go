// SPDX-License-Identifier: Apache-2.0
//
// A Go program for test_elfbin: it links what the agent probes (the net/http
// server and client, crypto/tls, bufio), so the test can look for their
// symbols, struct layouts and return instructions.  Never run by the tests.
package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) > 1 {
		resp, err := http.Get(os.Args[1])
		if err == nil {
			resp.Body.Close()
		}
		c, err := tls.Dial("tcp", os.Args[1], &tls.Config{})
		if err == nil {
			c.Write([]byte("x"))
			buf := make([]byte, 1)
			c.Read(buf)
		}
		w := bufio.NewWriter(os.Stdout)
		fmt.Fprintln(w, "done")
		w.Flush()
		return
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", r.Method, r.URL.Path)
	})
	http.ListenAndServe("127.0.0.1:0", nil)
}
