// SPDX-License-Identifier: Apache-2.0
//
// A Go net/http service for test_go.py: GET /r/<id> calls the next service
// at /direct/<id> from the handler and at /goroutine/<id> from a goroutine
// the handler starts and waits for, with the default client (pooled
// Transport), over http or https.  Prints {"port": N} when listening.
//
//	gosvc [-tls cert,key] [-next URL] [-insecure]
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
)

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

func main() {
	tlsFiles := flag.String("tls", "", "cert,key: serve https")
	next := flag.String("next", "", "the service to call")
	insecure := flag.Bool("insecure", false, "do not verify the next service's certificate")
	flag.Parse()
	client := http.DefaultClient
	if *insecure {
		client = &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		}}
	}
	http.HandleFunc("/r/", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/r/")
		if *next != "" {
			if err := get(client, *next+"/direct/"+id); err != nil {
				http.Error(w, err.Error(), 502)
				return
			}
			var wg sync.WaitGroup
			var gerr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				gerr = get(client, *next+"/goroutine/"+id)
			}()
			wg.Wait()
			if gerr != nil {
				http.Error(w, gerr.Error(), 502)
				return
			}
		}
		fmt.Fprintf(w, "go %s\n", id)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "go leaf %s\n", r.URL.Path)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]int{"port": ln.Addr().(*net.TCPAddr).Port})
	srv := &http.Server{TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	if *tlsFiles != "" {
		f := strings.SplitN(*tlsFiles, ",", 2)
		err = srv.ServeTLS(ln, f[0], f[1])
	} else {
		err = srv.Serve(ln)
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
