#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The echo benchmark: every server against the same load, in one run.

Each server runs pinned to CPU 0 (libvsched and Go on one CPU), the load
(echo_load) pinned to CPU 1; on 2 cores the load saturates first, so the
figure that holds is the server's CPU time per request. Prints one TSV line
per point (echo, server, conns, size, req/s, server CPU ns per request,
p50 us, p99 us), then a table with the ratios to the raw io_uring loop and
to Go. Then echo_micro's figures: a no-op round trip through the runtime
against the same on a raw ring, and cached 4 KiB preads from 64 tasks
against a plain pread loop and 64 goroutines. Then, when wrk is installed,
HTTP: examples/http_hello on both backends and Go's net/http, each pinned
to CPU 0, against wrk pinned to CPU 1 (req/s, server CPU ns per request
from /proc, p99).

Each point is run --reps times (3; 1 with --quick), the servers taking
turns, and the run with the median CPU per request is the one shown; each
micro figure is the median of as many runs.

usage: echo.py BUILDDIR [--quick] [--seconds S] [--reps N]
               [--conns 1,16,128,1000] [--sizes 128,4096] [--servers a,b,...]
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def median_run(runs, key):
    """Of @runs (None: failed), the one with the median @key; None if any
    failed."""
    if not runs or None in runs:
        return None
    return sorted(runs, key=key)[(len(runs) - 1) // 2]


def servers(build, go_bin):
    s = build + '/bench/echo/echo_servers'
    out = [
        ('uring-loop', [s, 'uring'], {}),
        ('epoll-loop', [s, 'epoll'], {}),
        ('vsched-uring', [s, 'vsched'], {'VSCHED_IO': 'uring'}),
        ('vsched-epoll', [s, 'vsched'], {'VSCHED_IO': 'epoll'}),
        ('vsched-sl-uring', [s, 'vsched-sl'], {'VSCHED_IO': 'uring'}),
        ('vsched-sl-epoll', [s, 'vsched-sl'], {'VSCHED_IO': 'epoll'}),
        ('threads', [s, 'threads'], {}),
    ]
    if go_bin:
        out.append(('go', [go_bin], {'GOMAXPROCS': '1'}))
    return out


def build_go(tmp, name):
    """bench/echo/NAME.go built into @tmp, or None (no go, or it failed)."""
    if not shutil.which('go'):
        return None
    env = dict(os.environ, GOCACHE=tmp + '/cache', GOPATH=tmp + '/path', GOFLAGS='',
               GO111MODULE='off')
    out = tmp + '/' + name + '-go'
    r = subprocess.run(['go', 'build', '-o', out, HERE + '/' + name + '.go'], env=env,
                       capture_output=True, text=True)
    if r.returncode:
        sys.stderr.write('echo.py: go build of %s.go failed, no Go column\n%s' %
                         (name, r.stderr))
        return None
    return out


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_listening(port, proc):
    for _ in range(500):
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.1).close()
            return True
        except OSError:
            time.sleep(0.01)
    return False


def start_server(cmd, env):
    """@cmd serving a free port, pinned to CPU 0: (its process, the port);
    the process is None (and gone) if it never listened."""
    port = free_port()
    srv = subprocess.Popen(cmd + [str(port)], env=dict(os.environ, **env),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    if not wait_listening(port, srv):
        stop_server(srv)
        return None, port
    return srv, port


def stop_server(srv):
    srv.kill()
    srv.wait()


def run_point(build, cmd, env, conns, size, secs, warm):
    srv, port = start_server(cmd, env)
    if not srv:
        return None
    try:
        load = subprocess.run([build + '/bench/echo/echo_load', str(port), str(conns),
                               str(size), str(secs), str(warm), str(srv.pid)],
                              capture_output=True, text=True, timeout=secs + warm + 60,
                              preexec_fn=lambda: os.sched_setaffinity(0, {1}))
        if load.returncode:
            sys.stderr.write(load.stderr)
            return None
        return [float(x) for x in load.stdout.split()[2:]]
    finally:
        stop_server(srv)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('build')
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--seconds', type=float, default=3.0)
    ap.add_argument('--conns', default='1,16,128,1000')
    ap.add_argument('--sizes', default='128,4096')
    ap.add_argument('--servers', default='')
    ap.add_argument('--reps', type=int, default=0)
    a = ap.parse_args()
    secs, warm = (0.5, 0.2) if a.quick else (a.seconds, 1.0)
    reps = a.reps if a.reps > 0 else 1 if a.quick else 3
    conns = [int(x) for x in a.conns.split(',')]
    sizes = [int(x) for x in a.sizes.split(',')]
    if os.cpu_count() < 2:
        sys.exit('echo.py: needs 2 CPUs (server and load pinned apart)')
    tmp = tempfile.mkdtemp(prefix='echo-go-')
    try:
        go_bin = build_go(tmp, 'echo') if not a.servers or 'go' in a.servers.split(',') else None
        todo = servers(a.build, go_bin)
        if a.servers:
            todo = [s for s in todo if s[0] in a.servers.split(',')]
        res = {}
        for c in conns:
            for sz in sizes:
                runs = {}
                for _ in range(reps):
                    for name, cmd, env in todo:
                        runs.setdefault(name, []).append(
                            run_point(a.build, cmd, env, c, sz, secs, warm))
                for name, _, _ in todo:
                    r = res[(name, c, sz)] = median_run(runs[name], lambda r: r[1])
                    if r:
                        print('echo\t%s\t%d\t%d\t%.0f\t%.0f\t%.1f\t%.1f' % ((name, c, sz) + tuple(r)),
                              flush=True)
                    else:
                        print('echo\t%s\t%d\t%d\tfailed' % (name, c, sz), flush=True)
        table(res, todo, conns, sizes)
        micro(a.build, 20000 if a.quick else 200000, build_go(tmp, 'pread'), reps)
        http(a.build, build_go(tmp, 'http'), 1 if a.quick else max(1, round(a.seconds)), reps)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def table(res, todo, conns, sizes):
    """CPU per request, and its ratio to the raw io_uring loop and to Go."""
    names = [t[0] for t in todo]
    print('\nserver CPU ns per request (ratio to uring-loop / to go); req/s; p99 us')
    for c in conns:
        for sz in sizes:
            base = res.get(('uring-loop', c, sz))
            go = res.get(('go', c, sz))
            print('%d conns, %d B:' % (c, sz))
            for n in names:
                r = res.get((n, c, sz))
                if not r:
                    print('  %-16s failed' % n)
                    continue
                rb = '%.2fx' % (r[1] / base[1]) if base and base[1] else '-'
                rg = '%.2fx' % (r[1] / go[1]) if go and go[1] else '-'
                print('  %-16s %8.0f ns  (%s / %s)  %9.0f req/s  p99 %8.1f us' %
                      (n, r[1], rb, rg, r[0], r[3]))


def micro(build, iters, go_pread, reps):
    seen = {}
    runs = [(be, [build + '/bench/echo/echo_micro', str(iters)], {'VSCHED_IO': be})
            for be in ('uring', 'epoll')]
    if go_pread:
        runs.append(('go', [go_pread, str(iters)], {'GOMAXPROCS': '1'}))
    for _ in range(reps):
        for who, cmd, env in runs:
            r = subprocess.run(cmd, env=dict(os.environ, **env), capture_output=True, text=True,
                               preexec_fn=lambda: os.sched_setaffinity(0, {0}))
            if r.returncode:
                print('micro\t%s\tfailed' % who, flush=True)
                continue
            for line in r.stdout.split('\n'):
                f = line.split('\t')
                # the raw ring and the plain loop: the first program's
                if len(f) == 3 and (who == 'uring' or f[1].startswith('vsched') or
                                    f[1] == 'go'):
                    seen.setdefault((f[0], f[1]), []).append(float(f[2]))
    figs = {k: median_run(v, float) for k, v in seen.items()}
    for (w, who), v in sorted(figs.items()):
        print('%s\t%s\t%.1f' % (w, who, v), flush=True)
    print('\nno-op round trip, ns (ratio to a raw ring poll / NOP); cached 4 KiB pread, ns '
          '(ratio to a plain loop / to Go)')
    poll, nop, plain, go = (figs.get(('noop_rt', 'ring-poll')), figs.get(('noop_rt', 'ring-nop')),
                            figs.get(('pread4k', 'plain')), figs.get(('pread4k', 'go')))
    for (w, who), v in sorted(figs.items()):
        if w == 'noop_rt' and who.startswith('vsched') and poll and nop:
            print('  noop_rt  %-13s %7.0f ns  (%.2fx / %.2fx)' % (who, v, v / poll, v / nop))
        elif w == 'pread4k' and who != 'plain' and plain:
            print('  pread4k  %-13s %7.0f ns  (%.2fx / %s)' %
                  (who, v, v / plain, '%.2fx' % (v / go) if go else '-'))


def server_cpu_ns(pid):
    """The run time of every thread of @pid so far (schedstat), in ns."""
    total = 0
    for t in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/schedstat' % (pid, t)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended
    return total


def wrk_point(cmd, env, conns, secs):
    """wrk against @cmd serving a port: (req/s, server CPU ns per request,
    p99 us), or None."""
    srv, port = start_server(cmd, env)
    if not srv:
        return None
    try:
        c0 = server_cpu_ns(srv.pid)
        w = subprocess.run(['wrk', '-t1', '-c%d' % conns, '-d%ds' % secs, '--latency',
                            'http://127.0.0.1:%d/' % port], capture_output=True, text=True,
                           timeout=secs + 60, preexec_fn=lambda: os.sched_setaffinity(0, {1}))
        cpu = server_cpu_ns(srv.pid) - c0
        if w.returncode or srv.poll() is not None:
            return None
        rps = p99 = reqs = None
        for line in w.stdout.split('\n'):
            f = line.split()
            if line.startswith('Requests/sec:'):
                rps = float(f[1])
            elif len(f) == 2 and f[0] == '99%':
                m = re.fullmatch(r'([0-9.]+)(us|ms|s|m)', f[1])
                p99 = m and float(m[1]) * {'us': 1, 'ms': 1e3, 's': 1e6, 'm': 6e7}[m[2]]
            elif len(f) > 3 and f[1] == 'requests' and f[2] == 'in':
                reqs = int(f[0])
        if 'Non-2xx' in w.stdout or 'Socket errors' in w.stdout or not (rps and reqs and p99):
            return None
        return rps, cpu / reqs, p99
    finally:
        stop_server(srv)


def http(build, go_http, secs, reps):
    if not shutil.which('wrk'):
        print('\nhttp: wrk is not installed, no HTTP rows')
        return
    hello = build + '/examples/http_hello'
    todo = [('vsched-uring', [hello], {'VSCHED_IO': 'uring'}),
            ('vsched-epoll', [hello], {'VSCHED_IO': 'epoll'})]
    if go_http:
        todo.append(('go', [go_http], {'GOMAXPROCS': '1'}))
    print('\nHTTP hello, wrk -t1, server CPU ns per request (ratio to go); req/s; p99 us')
    for conns in (16, 128):
        res, runs = {}, {}
        for _ in range(reps):
            for name, cmd, env in todo:
                runs.setdefault(name, []).append(wrk_point(cmd, env, conns, secs))
        for name, _, _ in todo:
            r = res[name] = median_run(runs[name], lambda r: r[1])
            if r:
                print('http\t%s\t%d\t%.0f\t%.0f\t%.1f' % ((name, conns) + r), flush=True)
            else:
                print('http\t%s\t%d\tfailed' % (name, conns), flush=True)
        go = res.get('go')
        for name, _, _ in todo:
            r = res.get(name)
            if r:
                print('  %4d conns %-13s %7.0f ns  (%s)  %9.0f req/s  p99 %8.1f us' %
                      (conns, name, r[1], '%.2fx' % (r[1] / go[1]) if go else '-', r[0], r[2]))


if __name__ == '__main__':
    sys.exit(main())
