// SPDX-License-Identifier: MIT
//
// vsbench's workloads in Go, for the same table: `vsbench-go WORKLOAD N`
// runs one of them once with size N and prints its figure, ns per
// operation (bytes per goroutine for park_rss), as vsbench's C workloads
// measure theirs. vsbench builds this at run time when `go` is installed.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func pair(procs int, f func()) float64 {
	runtime.GOMAXPROCS(procs)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(2)
	for i := 0; i < 2; i++ {
		go func() { f(); wg.Done() }()
	}
	wg.Wait()
	return float64(time.Since(t0).Nanoseconds())
}

// Two goroutines on one P handing over with runtime.Gosched.
func yield(n int) float64 {
	return pair(1, func() {
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
	}) / float64(2*n)
}

// Block-and-wake ping-pong through unbuffered channels: ns per round trip.
func pingpong(procs, n int) float64 {
	runtime.GOMAXPROCS(procs)
	ping, pong := make(chan int), make(chan int)
	t0 := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			pong <- <-ping
		}
	}()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func spawnJoin(n int) float64 {
	runtime.GOMAXPROCS(1)
	done := make(chan struct{})
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() { done <- struct{}{} }()
		<-done
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func fanout(n int) float64 {
	runtime.GOMAXPROCS(runtime.NumCPU())
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func channel(n int) float64 {
	runtime.GOMAXPROCS(2)
	ch := make(chan int, 64)
	done := make(chan struct{})
	t0 := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			if <-ch != i {
				panic("out of order")
			}
		}
		close(done)
	}()
	for i := 0; i < n; i++ {
		ch <- i
	}
	<-done
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func mutex(n int) float64 {
	var mu sync.Mutex
	shared := 0
	return pair(2, func() {
		for i := 0; i < n; i++ {
			mu.Lock()
			shared++
			mu.Unlock()
		}
	}) / float64(2*n)
}

func rssKiB(key string) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), key) {
			v, _ := strconv.Atoi(strings.Fields(s.Text())[1])
			return v
		}
	}
	return -1
}

// n goroutines parked on one channel: peak resident memory per goroutine.
func parkRSS(n int) float64 {
	runtime.GOMAXPROCS(runtime.NumCPU())
	before := rssKiB("VmRSS:")
	release := make(chan struct{})
	var parked, done sync.WaitGroup
	parked.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			parked.Done()
			<-release
			done.Done()
		}()
	}
	parked.Wait()
	time.Sleep(10 * time.Millisecond)
	peak := rssKiB("VmHWM:")
	close(release)
	done.Wait()
	return float64(peak-before) * 1024 / float64(n)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: vsbench-go WORKLOAD N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "vsbench-go: bad N")
		os.Exit(2)
	}
	var v float64
	switch os.Args[1] {
	case "yield":
		v = yield(n)
	case "wake":
		v = pingpong(1, n)
	case "wake_xcpu":
		v = pingpong(2, n)
	case "spawn_join":
		v = spawnJoin(n)
	case "fanout":
		v = fanout(n)
	case "channel":
		v = channel(n)
	case "mutex":
		v = mutex(n)
	case "park_rss":
		v = parkRSS(n)
	default:
		fmt.Fprintln(os.Stderr, "vsbench-go: no such workload:", os.Args[1])
		os.Exit(2)
	}
	fmt.Printf("%.1f\n", v)
}
