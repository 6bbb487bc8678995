// SPDX-License-Identifier: MIT
// The Go column of echo_micro's pread4k: cached 4 KiB preads at the same
// scattered offsets of a 64 MiB file, from 64 goroutines (GOMAXPROCS=1,
// as echo.py runs it). Prints "pread4k\tgo\tNS" per read.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

const (
	tasks    = 64
	fileSize = 64 << 20
)

// blockOf is echo_micro's block_of: a scattered block for task t's i-th read.
func blockOf(t, i uint64) int64 {
	x := t*0x9e3779b97f4a7c15 + i*0xbf58476d1ce4e5b9
	x ^= x >> 31
	return int64(x%(fileSize/4096)) * 4096
}

func main() {
	iters := uint64(200000)
	if len(os.Args) > 1 {
		n, err := strconv.ParseUint(os.Args[1], 10, 64)
		if err != nil || n < tasks {
			fmt.Fprintln(os.Stderr, "usage: pread [ITERATIONS >= 64]")
			os.Exit(2)
		}
		iters = n
	}
	f, err := os.CreateTemp("", "echo_micro-go-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Remove(f.Name())
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = 'x'
	}
	for off := int64(0); off < fileSize; off += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk, off); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if _, err := f.ReadAt(chunk, off); err != nil { // cached
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	per := iters / tasks
	var wg sync.WaitGroup
	failed := false
	var mu sync.Mutex
	t0 := time.Now()
	for t := uint64(0); t < tasks; t++ {
		wg.Add(1)
		go func(t uint64) {
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := uint64(0); i < per; i++ {
				if n, err := f.ReadAt(buf, blockOf(t, i)); n != len(buf) || err != nil {
					mu.Lock()
					failed = true
					mu.Unlock()
					return
				}
			}
		}(t)
	}
	wg.Wait()
	el := time.Since(t0)
	if failed {
		fmt.Fprintln(os.Stderr, "pread: a read failed")
		os.Exit(1)
	}
	fmt.Printf("pread4k\tgo\t%.1f\n", float64(el.Nanoseconds())/float64(per*tasks))
}
