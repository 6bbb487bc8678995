/* SPDX-License-Identifier: MIT */
/*
 * Domains: making the two memfds, checking them when joining, the member
 * table (claiming a slot, noticing that its holder died, reclaiming it),
 * and passing a domain over a Unix socket.
 *
 * The member table's protocol: a slot's owner word goes 0 -> pid by one
 * CAS (the claim), pid -> 0 when the holder leaves, and pid -> REAPING|r
 * -> 0 when process r finds the holder dead and empties the slot (its
 * CPUs given back, its objects reaped, its counters cleared). A reclaimer that dies midway
 * leaves REAPING|r, which the next one takes over the same way; each step
 * is one CAS that names who did it, so no death leaves a slot held.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <time.h>
#include <unistd.h>

#include "domain.h"
#include "vvar.h"

#define SEALS_GEOM (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define SEALS_STATE (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW)

static const char msg_tag[8] = { 'V', 'S', 'D', 'O', 'M', 'A', 'I', 'N' };

/* Fills @g's sizes and offsets from its counts; 0, or -EINVAL if out of
 * range. The same for the creator and for every joiner's check. */
static int layout(struct vsd_geom *g)
{
	struct vsched_geometry cg = { .ncpus = g->ncpus, .queue_cap = g->queue_cap,
				      .ntasks = g->max_tasks };
	struct vsched_vvar h;

	if (g->max_members == 0 || g->max_members > VSD_MAX_MEMBERS ||
	    g->max_tasks < g->ncpus + 2 || g->member_slice_ns == 0 ||
	    g->member_slice_ns > 10ull * 1000000000 || g->any_uid > 1 ||
	    g->max_objects == 0 || g->max_objects > VSD_MAX_OBJECTS ||
	    vsched_vvar_layout(&cg, &h) == 0)
		return -EINVAL;
	g->members_off = VSD_PAGE;
	g->cpus_off = vsched_align_up(g->members_off + g->max_members *
					      (uint64_t)sizeof(struct vsd_member), VSD_PAGE);
	g->wake_off = vsched_align_up(g->cpus_off + g->ncpus * (uint64_t)sizeof(struct vsd_cpu),
				      VSD_PAGE);
	g->bells_off = vsched_align_up(g->wake_off + (uint64_t)g->max_members * g->ncpus *
						     sizeof(uint32_t), VSD_PAGE);
	/* a member's bells are whole lines: ringing one wakes nobody else */
	g->bell_words = (uint32_t)vsched_align_up(1 + (g->max_objects + 63) / 64, 8);
	g->objs_off = vsched_align_up(g->bells_off + (uint64_t)g->max_members * g->bell_words *
						     sizeof(uint64_t), VSD_PAGE);
	g->state_size = g->objs_off + (uint64_t)g->max_objects * VSD_OBJ_SIZE;
	return 0;
}

static struct vsd_member *member(struct vs_domain *d, unsigned i)
{
	return (struct vsd_member *)(d->map + d->g.members_off) + i;
}

static struct vsd_state *state(struct vs_domain *d)
{
	return (struct vsd_state *)d->map;
}

/*
 * Is process @pid alive? A pidfd that polls readable, or no such process,
 * is dead; so is a zombie (dead, not yet waited for). Where pidfd_open is
 * missing, kill(pid, 0) decides, and a zombie counts as alive until its
 * parent waits for it.
 */
static bool pid_alive(uint32_t pid)
{
	static _Atomic int no_pidfd; /* the kernel (or valgrind) lacks it */
	struct pollfd pfd;
	int fd, n;

	if (pid == 0 || pid > VSD_PID_MASK)
		return false;
	fd = atomic_load_explicit(&no_pidfd, memory_order_relaxed) ?
		     -ENOSYS : (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (fd < 0) {
		if (fd == -1 && errno == ESRCH)
			return false;
		if (fd == -1 && errno == ENOSYS)
			atomic_store_explicit(&no_pidfd, 1, memory_order_relaxed);
		return !(kill((pid_t)pid, 0) != 0 && errno == ESRCH);
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	n = poll(&pfd, 1, 0);
	close(fd);
	return !(n == 1 && (pfd.revents & POLLIN));
}

static void cpus_drop(struct vs_domain *d, unsigned i);

/*
 * Empties slot @i if the process in its owner word @o is dead. Returns
 * true if the slot was free or is now.
 */
static bool reclaim(struct vs_domain *d, unsigned i, uint32_t o)
{
	struct vsd_member *m = member(d, i);
	uint32_t mine = VSD_REAPING | (uint32_t)d->pid;

	if (o == 0)
		return true;
	if ((o & VSD_PID_MASK) == (uint32_t)d->pid || pid_alive(o & VSD_PID_MASK))
		return false;
	/* acquire: the dead holder's (or reclaimer's) writes come before ours */
	if (!atomic_compare_exchange_strong_explicit(&m->owner, &o, mine, memory_order_acquire,
						     memory_order_relaxed))
		return o == 0;
	cpus_drop(d, i);
	vsd_objs_reap(d, i);
	atomic_store_explicit(&m->running, 0, memory_order_relaxed);
	atomic_store_explicit(&m->spinning, 0, memory_order_relaxed);
	atomic_store_explicit(&m->weight, 0, memory_order_relaxed);
	atomic_store_explicit(&m->cpu_ns, 0, memory_order_relaxed);
	/* release: the slot is clean before anyone can claim it */
	atomic_store_explicit(&m->owner, 0, memory_order_release);
	return true;
}

/* Takes a free slot (or one whose holder died) for this process. */
static int claim(struct vs_domain *d)
{
	uint32_t self = (uint32_t)d->pid;

	for (unsigned i = 0; i < d->g.max_members; i++) {
		uint32_t o = atomic_load_explicit(&member(d, i)->owner, memory_order_relaxed);

		if ((o & VSD_PID_MASK) == self && !(o & VSD_REAPING))
			return -EEXIST; /* one membership per process */
	}
	for (unsigned i = 0; i < d->g.max_members; i++) {
		struct vsd_member *m = member(d, i);
		uint32_t o = atomic_load_explicit(&m->owner, memory_order_relaxed);

		if (!reclaim(d, i, o))
			continue;
		o = 0;
		/* acquire: pairs with the release that freed the slot */
		if (!atomic_compare_exchange_strong_explicit(&m->owner, &o, self,
							     memory_order_acquire,
							     memory_order_relaxed))
			continue;
		d->id = i;
		d->me = m;
		/* bells rung for the slot's last holder are not ours */
		for (unsigned k = 0; k < d->g.bell_words; k++)
			atomic_store_explicit(vsd_bells(d, i) + k, 0, memory_order_relaxed);
		d->incarnation = atomic_fetch_add_explicit(&m->incarnation, 1,
							   memory_order_relaxed) + 1;
		atomic_store_explicit(&m->weight, VS_DOMAIN_WEIGHT_DEFAULT, memory_order_relaxed);
		atomic_store_explicit(&m->running, 0, memory_order_relaxed);
		atomic_store_explicit(&m->spinning, 0, memory_order_relaxed);
		atomic_store_explicit(&m->cpu_ns, 0, memory_order_relaxed);
		atomic_store_explicit(&m->vruntime,
				      atomic_load_explicit(&state(d)->min_vruntime,
							   memory_order_relaxed),
				      memory_order_relaxed);
		return 0;
	}
	return -EUSERS;
}

static void handle_free(struct vs_domain *d)
{
	if (d->map)
		munmap(d->map, d->g.state_size);
	free(d->owq);
	free(d->olook);
	if (d->gfd >= 0)
		close(d->gfd);
	if (d->sfd >= 0)
		close(d->sfd);
	free(d);
}

/* Checks the two files and joins; takes @gfd and @sfd (closed on failure). */
static int join(int gfd, int sfd, vs_domain_t **out)
{
	struct vs_domain *d = calloc(1, sizeof(*d));
	struct vsd_geom want;
	struct vsd_state st;
	struct stat sb;
	int r;

	if (!d) {
		close(gfd);
		close(sfd);
		return -ENOMEM;
	}
	d->gfd = gfd;
	d->sfd = sfd;
	d->pid = vsd_self();
	r = -EINVAL;
	/* the geometry: sealed for good, the right size, and consistent */
	if ((fcntl(gfd, F_GET_SEALS) & SEALS_GEOM) != SEALS_GEOM || fstat(gfd, &sb) != 0 ||
	    sb.st_size != (off_t)sizeof(d->g) ||
	    pread(gfd, &d->g, sizeof(d->g), 0) != (ssize_t)sizeof(d->g))
		goto fail;
	want = d->g;
	if (d->g.magic != VSD_GEOM_MAGIC || d->g.version != VSD_VERSION || layout(&want) != 0 ||
	    memcmp(&want, &d->g, sizeof(want)) != 0)
		goto fail;
	/* the state: sealed against resizing, of the size the geometry says,
	 * and made with it */
	if ((fcntl(sfd, F_GET_SEALS) & SEALS_STATE) != SEALS_STATE || fstat(sfd, &sb) != 0 ||
	    (uint64_t)sb.st_size != d->g.state_size ||
	    pread(sfd, &st, sizeof(st), 0) != (ssize_t)sizeof(st) ||
	    st.magic != VSD_STATE_MAGIC || st.version != VSD_VERSION || st.nonce != d->g.nonce)
		goto fail;
	d->map = mmap(NULL, d->g.state_size, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	if (d->map == MAP_FAILED) {
		d->map = NULL;
		r = -errno;
		goto fail;
	}
	{
		cpu_set_t set;

		d->spin = sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 1;
	}
	d->owq = calloc(d->g.max_objects, sizeof(*d->owq)); /* zeroed: VS_WQ_INIT */
	d->olook = calloc((size_t)d->g.max_objects * 3, sizeof(*d->olook));
	if (!d->owq || !d->olook) {
		r = -ENOMEM;
		goto fail;
	}
	r = claim(d);
	if (r < 0)
		goto fail;
	*out = d;
	return 0;

fail:
	handle_free(d);
	return r;
}

static int fd_dup(int fd)
{
	int n;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return n < 0 ? -errno : n;
}

int vs_domain_open(int geom_fd, int state_fd, vs_domain_t **out)
{
	int g, s;

	if (!out)
		return -EINVAL;
	g = fd_dup(geom_fd);
	if (g < 0)
		return g;
	s = fd_dup(state_fd);
	if (s < 0) {
		close(g);
		return s;
	}
	return join(g, s, out);
}

/* A memfd sealed with @seals after @fill wrote its contents. */
static int make_memfd(const char *name, uint64_t size, const void *head, size_t head_len,
		      int seals)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING), e;

	if (fd < 0)
		return errno == EINVAL || errno == ENOSYS ? -EOPNOTSUPP : -errno;
	/* readable by this user alone, whoever else gets the fd's number */
	if (fchmod(fd, 0600) != 0 || ftruncate(fd, (off_t)size) != 0 ||
	    pwrite(fd, head, head_len, 0) != (ssize_t)head_len)
		goto fail;
	if (fcntl(fd, F_ADD_SEALS, seals) != 0) {
		e = errno == EINVAL ? EOPNOTSUPP : errno;
		close(fd);
		return -e;
	}
	return fd;
fail:
	e = errno ? errno : EIO;
	close(fd);
	return -e;
}

int vs_domain_create(const struct vs_domain_attr *attr, vs_domain_t **out)
{
	struct vs_domain_attr a = { 0 };
	struct vsd_geom g = { 0 };
	struct vsd_state st = { 0 };
	cpu_set_t set;
	int gfd, sfd;

	if (!out)
		return -EINVAL;
	if (attr)
		a = *attr;
	if (!a.ncpus) {
		a.ncpus = (sched_getaffinity(0, sizeof(set), &set) == 0) ? (unsigned)CPU_COUNT(&set) : 1;
		if (a.ncpus > VSCHED_MAX_CPUS)
			a.ncpus = VSCHED_MAX_CPUS;
	}
	g.magic = VSD_GEOM_MAGIC;
	g.version = VSD_VERSION;
	g.ncpus = a.ncpus;
	g.max_members = a.max_members ? a.max_members : 8;
	g.max_tasks = a.max_tasks ? a.max_tasks : 4096;
	g.queue_cap = a.queue_cap ? a.queue_cap : 256;
	g.member_slice_ns = a.member_slice_ns ? a.member_slice_ns : 1000000;
	g.max_objects = a.max_objects ? a.max_objects : 64;
	g.uid = (uint32_t)geteuid();
	if (a.any_uid != 0 && a.any_uid != 1)
		return -EINVAL;
	g.any_uid = (uint32_t)a.any_uid;
	if (getrandom(&g.nonce, sizeof(g.nonce), GRND_NONBLOCK) != (ssize_t)sizeof(g.nonce)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		g.nonce = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
			  ((uint64_t)getpid() << 48);
	}
	if (layout(&g) != 0)
		return -EINVAL;
	st.magic = VSD_STATE_MAGIC;
	st.version = VSD_VERSION;
	st.nonce = g.nonce;
	gfd = make_memfd("vsched-domain-geometry", sizeof(g), &g, sizeof(g), SEALS_GEOM);
	if (gfd < 0)
		return gfd;
	sfd = make_memfd("vsched-domain-state", g.state_size, &st, sizeof(st), SEALS_STATE);
	if (sfd < 0) {
		close(gfd);
		return sfd;
	}
	return join(gfd, sfd, out);
}

/* This process's pid, kept: getpid is a system call, and the objects'
 * calls check the handle's owner every time. A fork's child forgets it. */
static _Atomic pid_t self_pid;

static void forget_pid(void)
{
	atomic_store_explicit(&self_pid, 0, memory_order_relaxed);
}

pid_t vsd_self(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pid_t p = atomic_load_explicit(&self_pid, memory_order_relaxed);

	if (__builtin_expect(p != 0, 1))
		return p;
	(void)pthread_once(&once, vsd_atfork_init);
	p = getpid();
	atomic_store_explicit(&self_pid, p, memory_order_relaxed);
	return p;
}

void vsd_atfork_init(void)
{
	(void)pthread_atfork(NULL, NULL, forget_pid);
}

int vs_domain_fds(const vs_domain_t *d, int *geom_fd, int *state_fd)
{
	if (!vsd_own(d))
		return d ? -EPERM : -EINVAL;
	if (!geom_fd || !state_fd)
		return -EINVAL;
	*geom_fd = d->gfd;
	*state_fd = d->sfd;
	return 0;
}

int vs_domain_member_id(const vs_domain_t *d)
{
	if (!vsd_own(d))
		return d ? -EPERM : -EINVAL;
	return (int)d->id;
}

int vs_domain_set_weight(vs_domain_t *d, unsigned weight)
{
	if (!vsd_own(d))
		return d ? -EPERM : -EINVAL;
	if (weight == 0 || weight > VS_DOMAIN_WEIGHT_MAX)
		return -EINVAL;
	atomic_store_explicit(&d->me->weight, weight, memory_order_relaxed);
	return 0;
}

int vs_domain_members(vs_domain_t *d, struct vs_domain_member *out, unsigned n)
{
	unsigned count = 0;

	if (!vsd_own(d))
		return d ? -EPERM : -EINVAL;
	if (n && !out)
		return -EINVAL;
	for (unsigned i = 0; i < d->g.max_members; i++) {
		struct vsd_member *m = member(d, i);
		uint32_t o = atomic_load_explicit(&m->owner, memory_order_acquire);

		if (o == 0 || (o & VSD_REAPING) || reclaim(d, i, o))
			continue;
		if (count < n) {
			out[count] = (struct vs_domain_member){
				.id = i,
				.incarnation = atomic_load_explicit(&m->incarnation,
								    memory_order_relaxed),
				.pid = (int)(o & VSD_PID_MASK),
				.weight = atomic_load_explicit(&m->weight, memory_order_relaxed),
				.running = atomic_load_explicit(&m->running,
								memory_order_relaxed) != 0,
				.cpu_ns = atomic_load_explicit(&m->cpu_ns, memory_order_relaxed),
			};
		}
		count++;
	}
	return (int)count;
}

int vs_domain_close(vs_domain_t *d)
{
	if (!d)
		return -EINVAL;
	if (vsd_own(d)) {
		uint32_t self = (uint32_t)d->pid;

		if (atomic_load(&d->running))
			return -EBUSY;
		atomic_store_explicit(&d->me->weight, 0, memory_order_relaxed);
		atomic_store_explicit(&d->me->cpu_ns, 0, memory_order_relaxed);
		/* release: the slot is clean before the next claim */
		(void)atomic_compare_exchange_strong_explicit(&d->me->owner, &self, 0,
							      memory_order_release,
							      memory_order_relaxed);
	}
	handle_free(d);
	return 0;
}

/* May the peer of @sock be trusted: of this user, or @any_uid? */
static int peer_ok(int sock, bool any_uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return errno == ENOTSOCK || errno == EBADF ? -errno : -EINVAL;
	if (!any_uid && cr.uid != geteuid())
		return -EPERM;
	return 0;
}

int vs_domain_send(const vs_domain_t *d, int sock)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)msg_tag, .iov_len = sizeof(msg_tag) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int fds[2], r;

	if (!vsd_own(d))
		return d ? -EPERM : -EINVAL;
	r = peer_ok(sock, d->g.any_uid != 0);
	if (r < 0)
		return r;
	memset(u.buf, 0, sizeof(u.buf));
	fds[0] = d->gfd;
	fds[1] = d->sfd;
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	do
		r = (int)sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == (int)sizeof(msg_tag) ? 0 : -EIO;
}

int vs_domain_recv(int sock, unsigned flags, vs_domain_t **out)
{
	union {
		char buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} u;
	char tag[sizeof(msg_tag)];
	struct iovec iov = { .iov_base = tag, .iov_len = sizeof(tag) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	int fds[8], nfd = 0, r, len;

	if (!out || (flags & ~VS_DOMAIN_ANY_UID))
		return -EINVAL;
	/* the sender first: nothing it sent is looked at unless it passes */
	r = peer_ok(sock, flags & VS_DOMAIN_ANY_UID);
	if (r < 0)
		return r;
	do
		r = (int)recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	len = r;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t k = 0; k < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int) && nfd < 8; k++)
			memcpy(&fds[nfd++], CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
	}
	r = -EPROTO;
	if (nfd == 2 && !(mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) && len == (int)sizeof(tag) &&
	    memcmp(tag, msg_tag, sizeof(tag)) == 0) {
		r = join(fds[0], fds[1], out); /* checks the files themselves */
		nfd = 0;		       /* join took them */
	}
	for (int k = 0; k < nfd; k++)
		close(fds[k]);
	return r;
}

int vsd_runtime_begin(struct vs_domain *d)
{
	int zero = 0;

	if (!vsd_own(d))
		return -EPERM;
	if (!atomic_compare_exchange_strong(&d->running, &zero, 1))
		return -EBUSY;
	d->held_since = calloc(d->g.ncpus, sizeof(*d->held_since));
	d->prewoke = calloc(d->g.ncpus, sizeof(*d->prewoke));
	if (!d->held_since || !d->prewoke) {
		free(d->held_since);
		free(d->prewoke);
		d->held_since = NULL;
		d->prewoke = NULL;
		atomic_store(&d->running, 0);
		return -ENOMEM;
	}
	atomic_store_explicit(&d->me->running, 1, memory_order_relaxed);
	return 0;
}

void vsd_runtime_end(struct vs_domain *d)
{
	vsd_flush_kicks(d);
	/* whatever CPU it still holds or waits for goes to the others */
	for (unsigned c = 0; c < d->g.ncpus; c++) {
		vsd_cpu_want(d, c, false);
		if (atomic_load_explicit(&vsd_cpu(d, c)->holder, memory_order_relaxed) == d->id + 1)
			vsd_cpu_release(d, c);
	}
	free(d->held_since);
	free(d->prewoke);
	d->held_since = NULL;
	d->prewoke = NULL;
	atomic_store_explicit(&d->me->running, 0, memory_order_relaxed);
	atomic_store(&d->running, 0);
}

/*
 * Domain CPUs. Who writes what: a CPU's holder word goes 0 -> m + 1 by
 * member m's CAS (take), m + 1 -> n + 1 or 0 by m (release), and h + 1 ->
 * m + 1 or 0 by a member that found h dead or past its lease; a want bit
 * is set and cleared by its member (and cleared by a reclaimer). Take and
 * release pair as Dekker does: the taker sets its want bit then looks at
 * the holder, the releaser frees the holder then looks at the want bits,
 * all seq_cst, so one of them sees the other and no waiter is left
 * behind a free CPU. Every value read here is masked or range-checked
 * against the private geometry before it indexes anything.
 */
#define VR_SCALE 1024u /* vruntime: ns * VR_SCALE / weight */
#define LEASE_SLICES 50u /* a holder keeps a CPU others wait for this long */
#define WAIT_SPIN 4000u /* looks at the holder word before sleeping */
#define PREWAKE_NS 50000u /* before a slice ends, the next member is woken */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct vsd_cpu *vsd_cpu(struct vs_domain *d, unsigned cpu)
{
	return (struct vsd_cpu *)(d->map + d->g.cpus_off) + cpu;
}

static _Atomic uint32_t *wake_word(struct vs_domain *d, unsigned m, unsigned cpu)
{
	return (_Atomic uint32_t *)(d->map + d->g.wake_off) + (size_t)m * d->g.ncpus + cpu;
}

static uint32_t weight_of(struct vsd_member *m)
{
	uint32_t w = atomic_load_explicit(&m->weight, memory_order_relaxed);

	return w == 0 || w > VS_DOMAIN_WEIGHT_MAX ? VS_DOMAIN_WEIGHT_DEFAULT : w;
}

/* vruntimes are compared as signed differences: they may wrap */
static bool vr_before(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
}

static void wake(struct vs_domain *d, unsigned m, unsigned cpu)
{
	_Atomic uint32_t *w = wake_word(d, m, cpu);

	/* seq_cst: the holder word written before is seen by a waiter that
	 * finds the count moved, and a sleeper's flag is seen here */
	if (atomic_fetch_add(w, 2) & VSD_WAKE_SLEEPING)
		syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

void vsd_cpu_kick(struct vs_domain *d, unsigned cpu)
{
	wake(d, d->id, cpu);
}

/* The waiting member furthest behind, other than @skip; -1 if none. */
static int next_member(struct vs_domain *d, unsigned cpu, unsigned skip)
{
	uint64_t w = atomic_load(&vsd_cpu(d, cpu)->want) & vsd_members_mask(d);
	uint64_t best_vr = 0;
	int best = -1;

	w &= ~(1ull << skip);
	while (w) {
		unsigned m = (unsigned)__builtin_ctzll(w);
		uint64_t vr = atomic_load_explicit(&member(d, m)->vruntime, memory_order_relaxed);

		w &= w - 1;
		if (atomic_load_explicit(&member(d, m)->owner, memory_order_relaxed) == 0)
			continue; /* left: its bit is stale */
		if (best < 0 || vr_before(vr, best_vr)) {
			best = (int)m;
			best_vr = vr;
		}
	}
	return best;
}

/* @cpu became this member's: from now its time counts. */
static void got(struct vs_domain *d, unsigned cpu)
{
	struct vsd_cpu *dc = vsd_cpu(d, cpu);
	uint64_t t = now_ns();

	if (d->held_since[cpu])
		return;
	d->held_since[cpu] = t;
	d->prewoke[cpu] = 0;
	atomic_store_explicit(&dc->since, t, memory_order_relaxed);
	atomic_fetch_and(&dc->want, ~(1ull << d->id));
}

/* Adds the time @cpu was held to this member's counts; returns now. */
static uint64_t account(struct vs_domain *d, unsigned cpu)
{
	uint64_t t = now_ns(), held;

	if (!d->held_since[cpu])
		return t;
	held = t - d->held_since[cpu];
	d->held_since[cpu] = 0;
	atomic_fetch_add_explicit(&d->me->cpu_ns, held, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->me->vruntime, held * VR_SCALE / weight_of(d->me),
				  memory_order_relaxed);
	return t;
}

/* Hands the free @cpu to the waiting member furthest behind, if any. */
static void grant_free(struct vs_domain *d, unsigned cpu, unsigned skip)
{
	struct vsd_cpu *dc = vsd_cpu(d, cpu);

	for (int tries = 0; tries < 8; tries++) {
		uint32_t zero = 0;
		int n = next_member(d, cpu, skip);

		if (n < 0)
			return;
		if (atomic_compare_exchange_strong(&dc->holder, &zero, (uint32_t)n + 1)) {
			atomic_store_explicit(&dc->since, now_ns(), memory_order_relaxed);
			atomic_fetch_add_explicit(&dc->handoffs, 1, memory_order_relaxed);
			wake(d, (unsigned)n, cpu);
			return;
		}
		if (zero != 0)
			return; /* someone took it */
	}
}

/* A reclaimer's part: member @i's CPUs and wishes go. */
static void cpus_drop(struct vs_domain *d, unsigned i)
{
	for (unsigned c = 0; c < d->g.ncpus; c++) {
		struct vsd_cpu *dc = vsd_cpu(d, c);
		uint32_t h = i + 1;

		atomic_fetch_and(&dc->want, ~(1ull << i));
		if (atomic_compare_exchange_strong(&dc->holder, &h, 0))
			grant_free(d, c, i);
	}
}

/* Raises the floor of vruntimes to the least of the members that want
 * or hold a CPU (the floor never goes down). */
static void floor_update(struct vs_domain *d)
{
	uint64_t busy = 0, lo = 0;
	bool any = false;

	for (unsigned c = 0; c < d->g.ncpus; c++) {
		struct vsd_cpu *dc = vsd_cpu(d, c);
		uint32_t h = atomic_load_explicit(&dc->holder, memory_order_relaxed);

		busy |= atomic_load_explicit(&dc->want, memory_order_relaxed);
		if (h && h <= d->g.max_members)
			busy |= 1ull << (h - 1);
	}
	busy &= vsd_members_mask(d);
	while (busy) {
		unsigned m = (unsigned)__builtin_ctzll(busy);
		uint64_t vr = atomic_load_explicit(&member(d, m)->vruntime, memory_order_relaxed);

		busy &= busy - 1;
		if (!any || vr_before(vr, lo))
			lo = vr;
		any = true;
	}
	if (any) {
		uint64_t f = atomic_load_explicit(&state(d)->min_vruntime, memory_order_relaxed);

		if (vr_before(f, lo))
			atomic_store_explicit(&state(d)->min_vruntime, lo, memory_order_relaxed);
	}
}

void vsd_cpu_want(struct vs_domain *d, unsigned cpu, bool on)
{
	struct vsd_cpu *dc = vsd_cpu(d, cpu);
	uint64_t bit = 1ull << d->id;

	if (on == ((atomic_load_explicit(&dc->want, memory_order_relaxed) & bit) != 0))
		return;
	if (on) {
		/* back from a rest: no further behind the others than a slice */
		uint64_t f = atomic_load_explicit(&state(d)->min_vruntime, memory_order_relaxed);
		uint64_t lag = d->g.member_slice_ns * VR_SCALE / weight_of(d->me);
		uint64_t vr = atomic_load_explicit(&d->me->vruntime, memory_order_relaxed);

		if (vr_before(vr + lag, f))
			atomic_store_explicit(&d->me->vruntime, f - lag, memory_order_relaxed);
		atomic_fetch_or(&dc->want, bit);
	} else {
		atomic_fetch_and(&dc->want, ~bit);
	}
}

bool vsd_cpu_take(struct vs_domain *d, unsigned cpu)
{
	struct vsd_cpu *dc = vsd_cpu(d, cpu);
	uint32_t h = atomic_load(&dc->holder), me = d->id + 1;

	if (h == me || (h == 0 && atomic_compare_exchange_strong(&dc->holder, &h, me))) {
		got(d, cpu);
		return true;
	}
	return false;
}

bool vsd_cpu_due(struct vs_domain *d, unsigned cpu)
{
	struct vsd_cpu *dc = vsd_cpu(d, cpu);
	uint64_t t, mine;
	int n;

	if (atomic_load_explicit(&dc->holder, memory_order_relaxed) != d->id + 1)
		return true; /* taken from it (its lease ran out): leave at once */
	t = now_ns();
	if (t - d->held_since[cpu] < d->g.member_slice_ns) {
		/* near the end of the slice, the member it will likely go to
		 * is woken: it then spins on the holder word (vsd_cpu_wait),
		 * and the hand-off costs no wake-up at the boundary */
		if (d->spin && !d->prewoke[cpu] &&
		    t - d->held_since[cpu] + PREWAKE_NS >= d->g.member_slice_ns &&
		    (n = next_member(d, cpu, d->id)) >= 0) {
			d->prewoke[cpu] = 1;
			wake(d, (unsigned)n, cpu);
		}
		return false;
	}
	n = next_member(d, cpu, d->id);
	if (n < 0)
		return false;
	/* its own time so far counts: is the other one behind it now? */
	mine = atomic_load_explicit(&d->me->vruntime, memory_order_relaxed) +
	       (t - d->held_since[cpu]) * VR_SCALE / weight_of(d->me);
	return vr_before(atomic_load_explicit(&member(d, (unsigned)n)->vruntime,
					      memory_order_relaxed), mine);
}

void vsd_cpu_release(struct vs_domain *d, unsigned cpu)
{
	struct vsd_cpu *dc = vsd_cpu(d, cpu);
	uint32_t me = d->id + 1, h = me;
	uint64_t t = account(d, cpu);
	int n;

	floor_update(d);
	n = next_member(d, cpu, d->id);
	if (n >= 0 && atomic_compare_exchange_strong(&dc->holder, &h, (uint32_t)n + 1)) {
		vsd_step(VSD_STEP_HANDOFF);
		atomic_store_explicit(&dc->since, t, memory_order_relaxed);
		atomic_fetch_add_explicit(&dc->handoffs, 1, memory_order_relaxed);
		wake(d, (unsigned)n, cpu);
		return;
	}
	h = me;
	if (!atomic_compare_exchange_strong(&dc->holder, &h, 0))
		return; /* taken from it meanwhile */
	/* a member that began to wait after we looked: it saw us holding it */
	grant_free(d, cpu, d->id);
}

/* After a wait that timed out: the holder of @cpu, dead or past its lease,
 * gives it up. */
static void watch(struct vs_domain *d, unsigned cpu)
{
	struct vsd_cpu *dc = vsd_cpu(d, cpu);
	uint32_t h = atomic_load(&dc->holder), o;
	uint64_t since;

	if (h == 0 || h == d->id + 1)
		return;
	if (h > d->g.max_members) {
		/* not a member: a peer wrote it */
		if (atomic_compare_exchange_strong(&dc->holder, &h, 0))
			grant_free(d, cpu, d->g.max_members);
		return;
	}
	o = atomic_load(&member(d, h - 1)->owner);
	if (o == 0 || (!(o & VSD_REAPING) && !pid_alive(o & VSD_PID_MASK))) {
		if (o)
			(void)reclaim(d, h - 1, o); /* frees its CPUs */
		else if (atomic_compare_exchange_strong(&dc->holder, &h, 0))
			grant_free(d, cpu, d->g.max_members);
		return;
	}
	since = atomic_load_explicit(&dc->since, memory_order_relaxed);
	if (now_ns() - since > LEASE_SLICES * d->g.member_slice_ns &&
	    atomic_compare_exchange_strong(&dc->holder, &h, d->id + 1)) {
		atomic_store_explicit(&dc->since, now_ns(), memory_order_relaxed);
		atomic_fetch_add_explicit(&dc->handoffs, 1, memory_order_relaxed);
	}
}

bool vsd_cpu_wait(struct vs_domain *d, unsigned cpu, uint64_t timeout_ns)
{
	struct vsd_cpu *dc = vsd_cpu(d, cpu);
	_Atomic uint32_t *w = wake_word(d, d->id, cpu);
	uint32_t me = d->id + 1, seq;
	struct timespec ts = { .tv_sec = (time_t)(timeout_ns / 1000000000u),
			       .tv_nsec = (long)(timeout_ns % 1000000000u) };

	/* a hand-off comes within microseconds of a holder's decision (on
	 * another machine CPU: with one, the holder waits for our sleep) */
	for (unsigned i = 0; d->spin && i < WAIT_SPIN; i++) {
		if (atomic_load_explicit(&dc->holder, memory_order_acquire) == me)
			goto held;
		vsched_cpu_relax();
	}
	seq = atomic_fetch_or(w, VSD_WAKE_SLEEPING) | VSD_WAKE_SLEEPING;
	if (atomic_load(&dc->holder) != me && !vsd_cpu_take(d, cpu))
		syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, seq, &ts, NULL, 0);
	atomic_fetch_and(w, ~VSD_WAKE_SLEEPING);
	if (vsd_cpu_take(d, cpu))
		return true;
	watch(d, cpu);
	return vsd_cpu_take(d, cpu);
held:
	got(d, cpu);
	return true;
}

void vsd_spinning(struct vs_domain *d, bool on)
{
	/* seq_cst: a worker that stops spinning then looks at its bells
	 * (vsd_sleep); a ringer sets the bell, then reads this */
	if (on)
		atomic_fetch_add(&d->me->spinning, 1);
	else
		atomic_fetch_sub(&d->me->spinning, 1);
}

void vsd_kick_member(struct vs_domain *d, unsigned m)
{
	if (m >= d->g.max_members)
		return;
	/* one of its workers spins: it sees the bell (a peer's garbage here
	 * costs the member a wake-up it would have had: the lease bounds
	 * its waiters' wait, as for anything a peer rewrites) */
	if (atomic_load(&member(d, m)->spinning) != 0)
		return;
	for (unsigned c = 0; c < d->g.ncpus; c++)
		if (atomic_load(wake_word(d, m, c)) & VSD_WAKE_SLEEPING) {
			wake(d, m, c);
			return;
		}
}

void vsd_sleep(struct vs_domain *d, unsigned cpu, _Atomic uint32_t *seqp, uint32_t seq,
	       uint64_t deadline)
{
	_Atomic uint32_t *w = wake_word(d, d->id, cpu);
	struct timespec ts, *tp = NULL;
	uint32_t v;

	if (deadline) {
		uint64_t now = now_ns(), left = deadline > now ? deadline - now : 0;

		if (!left)
			return;
		ts.tv_sec = (time_t)(left / 1000000000u);
		ts.tv_nsec = (long)(left % 1000000000u);
		tp = &ts;
	}
	/* seq_cst, Dekker twice: a local kicker bumps *seqp then the wake
	 * word; a ringer sets the bell then looks for this flag. Either it
	 * sees the flag and wakes us, or we see its write below. */
	v = atomic_fetch_or(w, VSD_WAKE_SLEEPING) | VSD_WAKE_SLEEPING;
	if (atomic_load(seqp) == seq && !atomic_load(vsd_bells(d, d->id)))
		syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, v, tp, NULL, 0);
	atomic_fetch_and(w, ~VSD_WAKE_SLEEPING);
}

bool vsd_member_reap(struct vs_domain *d, unsigned m)
{
	uint32_t o;

	if (m >= d->g.max_members)
		return false;
	o = atomic_load_explicit(&member(d, m)->owner, memory_order_relaxed);
	if (o == 0 || (o & VSD_REAPING))
		return false;
	return reclaim(d, m, o);
}

int vsd_die_step;
unsigned long vsd_die_after;

int vsd_die_signal;

void vsd_step_die(void)
{
	if (vsd_die_after-- == 0)
		raise(vsd_die_signal ? vsd_die_signal : SIGKILL);
}
