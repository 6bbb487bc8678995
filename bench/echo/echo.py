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
against a plain pread loop.

usage: echo.py BUILDDIR [--quick] [--seconds S] [--conns 1,16,128,1000]
               [--sizes 128,4096] [--servers a,b,...]
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


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


def build_go(tmp):
    if not shutil.which('go'):
        return None
    env = dict(os.environ, GOCACHE=tmp + '/cache', GOPATH=tmp + '/path', GOFLAGS='',
               GO111MODULE='off')
    out = tmp + '/echo-go'
    r = subprocess.run(['go', 'build', '-o', out, HERE + '/echo.go'], env=env,
                       capture_output=True, text=True)
    if r.returncode:
        sys.stderr.write('echo.py: go build failed, no Go column\n' + r.stderr)
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


def run_point(build, cmd, env, conns, size, secs, warm):
    port = free_port()
    srv = subprocess.Popen(cmd + [str(port)], env=dict(os.environ, **env),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    try:
        if not wait_listening(port, srv):
            return None
        load = subprocess.run([build + '/bench/echo/echo_load', str(port), str(conns),
                               str(size), str(secs), str(warm), str(srv.pid)],
                              capture_output=True, text=True, timeout=secs + warm + 60,
                              preexec_fn=lambda: os.sched_setaffinity(0, {1}))
        if load.returncode:
            sys.stderr.write(load.stderr)
            return None
        return [float(x) for x in load.stdout.split()[2:]]
    finally:
        srv.kill()
        srv.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('build')
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--seconds', type=float, default=3.0)
    ap.add_argument('--conns', default='1,16,128,1000')
    ap.add_argument('--sizes', default='128,4096')
    ap.add_argument('--servers', default='')
    a = ap.parse_args()
    secs, warm = (0.5, 0.2) if a.quick else (a.seconds, 1.0)
    conns = [int(x) for x in a.conns.split(',')]
    sizes = [int(x) for x in a.sizes.split(',')]
    if os.cpu_count() < 2:
        sys.exit('echo.py: needs 2 CPUs (server and load pinned apart)')
    tmp = tempfile.mkdtemp(prefix='echo-go-')
    try:
        go_bin = build_go(tmp) if not a.servers or 'go' in a.servers.split(',') else None
        todo = servers(a.build, go_bin)
        if a.servers:
            todo = [s for s in todo if s[0] in a.servers.split(',')]
        res = {}
        for c in conns:
            for sz in sizes:
                for name, cmd, env in todo:
                    r = run_point(a.build, cmd, env, c, sz, secs, warm)
                    res[(name, c, sz)] = r
                    if r:
                        print('echo\t%s\t%d\t%d\t%.0f\t%.0f\t%.1f\t%.1f' % ((name, c, sz) + tuple(r)),
                              flush=True)
                    else:
                        print('echo\t%s\t%d\t%d\tfailed' % (name, c, sz), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # the table: CPU per request, and its ratio to the raw io_uring loop and to Go
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
    micro(a.build, 20000 if a.quick else 200000)
    return 0


def micro(build, iters):
    figs = {}
    for be in ('uring', 'epoll'):
        r = subprocess.run([build + '/bench/echo/echo_micro', str(iters)],
                           env=dict(os.environ, VSCHED_IO=be), capture_output=True, text=True,
                           preexec_fn=lambda: os.sched_setaffinity(0, {0}))
        if r.returncode:
            print('micro\tvsched-%s\tfailed' % be, flush=True)
            continue
        for line in r.stdout.split('\n'):
            f = line.split('\t')
            if len(f) == 3:
                print(line, flush=True)
                figs.setdefault((f[0], f[1]), float(f[2]))
    print('\nno-op round trip, ns (ratio to a raw ring poll / NOP); cached 4 KiB pread, ns '
          '(ratio to a plain loop)')
    poll, nop, plain = (figs.get(('noop_rt', 'ring-poll')), figs.get(('noop_rt', 'ring-nop')),
                        figs.get(('pread4k', 'plain')))
    for (w, who), v in sorted(figs.items()):
        if w == 'noop_rt' and who.startswith('vsched') and poll and nop:
            print('  noop_rt  %-13s %7.0f ns  (%.2fx / %.2fx)' % (who, v, v / poll, v / nop))
        elif w == 'pread4k' and who.startswith('vsched') and plain:
            print('  pread4k  %-13s %7.0f ns  (%.2fx)' % (who, v, v / plain))


if __name__ == '__main__':
    sys.exit(main())
