/* SPDX-License-Identifier: MIT */
/*
 * The loader's good loads: embedded, from a file, sharing an area through a
 * memfd, where the vvar layout says; bad options; the images of tests/abi.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loader_common.h"

static const char *image_path; /* the built libvsched.so, from argv */

/* Images built broken on purpose by tests/abi, as (case, path) from argv. */
#define MAX_BUILT 16
static const char *built_case[MAX_BUILT], *built_path[MAX_BUILT];
static unsigned nbuilt;

static void check_mapped(const struct vsa_image *img)
{
	const char *lo = img->text, *hi = lo + img->text_size;
	char perms[5] = "";
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	assert_non_null(img->map_base);
	assert_ptr_equal((char *)img->vvar, (char *)img->text - VSCHED_VVAR_HDR_SIZE);
	assert_ptr_equal((char *)img->map_base + img->area_size, img->text);
	assert_int_equal(img->area_size % page, 0);
	assert_int_equal((uintptr_t)img->text % page, 0);
	assert_true(img->map_size >= img->area_size + img->text_size);
	assert_int_equal(img->vvar->magic, VSCHED_VVAR_MAGIC);
	assert_int_equal(img->vvar->version, VSCHED_VVAR_VERSION);
	assert_int_equal(img->vvar->hdr_size, VSCHED_VVAR_HDR_SIZE);
	assert_int_equal(img->vvar->area_size, img->area_size);
	assert_int_equal(img->vvar->shared_size, img->shared_size);
	assert_ptr_equal((char *)img->shared + img->shared_size, (char *)img->vvar);
	assert_string_equal(img->err, "");
	/* the image's first bytes are the file's, and read-only */
	assert_memory_equal(img->text, vsa_embedded_image, 64);
	maps_perms(img->text, perms);
	/* qemu-user lists the guest's flags of the first page of each host
	 * mapping: the text's host pages are read-only like the header's
	 * just below, so both show as the header's */
	if (getenv("VSCHED_EMULATED"))
		assert_true(perms[0] == 'r' && perms[1] == '-');
	else
		assert_string_equal(perms, "r-xp");
	maps_perms(hi - 1, perms);
	assert_int_equal(perms[1], '-');
	/* the header is private and read-only; the parts below it writable */
	maps_perms(img->vvar, perms);
	assert_string_equal(perms, "r--p");
	maps_perms(img->shared, perms);
	assert_true(perms[0] == 'r' && perms[1] == 'w' && perms[2] == '-');
	maps_perms((char *)img->vvar - 1, perms);
	assert_true(perms[0] == 'r' && perms[1] == 'w' && perms[2] == '-');
	maps_perms(img->map_base, perms);
	assert_string_equal(perms, "rw-p");
#define VSCHED_API(ret, name, params, args)                                          \
	assert_non_null(img->api.name);                                              \
	assert_true((const char *)(uintptr_t)img->api.name >= lo &&                  \
		    (const char *)(uintptr_t)img->api.name < hi);
#include "vsched_api.def"
#undef VSCHED_API
}

static void test_map_private(void **state)
{
	struct vsched_task_desc desc = {.kind = VSCHED_KIND_STACKLESS};
	struct vsched_vvar want;
	struct vsa_image img;
	vsched_ref_t ref = VSCHED_REF_NONE, cur;

	(void)state;
	assert_int_equal(vsa_image_map_embedded(&img, &priv_opts), 0);
	check_mapped(&img);
	assert_int_equal(vsched_vvar_layout(&priv_opts.geom, &want), img.vvar->area_size);
	assert_int_equal(img.vvar->ncpus, 2);
	assert_int_equal(img.vvar->queue_cap, 8);
	assert_int_equal(img.vvar->ntasks, 64);
	assert_int_equal(img.vvar->policy, VSCHED_POLICY_FIFO);
	assert_int_equal(img.vvar->tasks_off, want.tasks_off);
	assert_int_equal(vsched_vvar_glob(img.vvar)->formatted, 0);

	/* real calls into the mapped code */
	assert_int_equal(img.api.vsched_task_alloc(VSCHED_CPU_NONE, &desc, &ref), 0);
	assert_int_not_equal(ref, VSCHED_REF_NONE);
	assert_int_equal(vsched_vvar_glob(img.vvar)->nr_alive, 1);
	assert_int_equal(img.api.vsched_current(0, &cur), -EINVAL); /* no CPU is up */
	assert_int_equal(img.api.vsched_task_free(VSCHED_CPU_NONE, ref), 0);
	assert_int_equal(vsched_vvar_glob(img.vvar)->nr_alive, 0);
	assert_int_equal(img.api.vsched_task_free(VSCHED_CPU_NONE, ref), -ESRCH);
	vsa_image_unmap(&img);
}

/* VSCHED_PERF_MAP=1: /tmp/perf-PID.map names the image's functions where
 * they are mapped, inside the image; unset, no file is written. */
static void test_perf_map(void **state)
{
	char path[64], line[256], name[200];
	unsigned long addr, size;
	struct vsa_image img;
	int found = 0, lines = 0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/perf-%ld.map", (long)getpid());
	unlink(path);
	assert_int_equal(setenv("VSCHED_PERF_MAP", "1", 1), 0);
	assert_int_equal(vsa_image_map_embedded(&img, &priv_opts), 0);
	assert_int_equal(unsetenv("VSCHED_PERF_MAP"), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		assert_int_equal(sscanf(line, "%lx %lx vsched:%199s", &addr, &size, name), 3);
		assert_true(size > 0);
		assert_true(addr >= (uintptr_t)img.text &&
			    addr + size <= (uintptr_t)img.text + img.text_size);
		if (!strcmp(name, "vsched_yield_now")) {
			assert_int_equal(addr, (uintptr_t)img.api.vsched_yield_now);
			found++;
		}
		lines++;
	}
	fclose(f);
	assert_int_equal(found, 1);
	assert_true(lines >= (int)vsa_api_count);
	vsa_image_unmap(&img);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(vsa_image_map_embedded(&img, &priv_opts), 0);
	assert_int_equal(access(path, F_OK), -1);
	vsa_image_unmap(&img);
}

static void test_map_file(void **state)
{
	struct vsched_task_desc desc = {.kind = VSCHED_KIND_STACKLESS};
	char tmpl[] = "/tmp/vsched-loader-XXXXXX";
	struct vsa_image img;
	vsched_ref_t ref;
	int fd;

	(void)state;
	if (!image_path)
		skip();
	assert_int_equal(vsa_image_map_file(&img, image_path, &priv_opts), 0);
	check_mapped(&img);
	assert_int_equal(img.api.vsched_task_alloc(VSCHED_CPU_NONE, &desc, &ref), 0);
	assert_int_equal(vsched_vvar_glob(img.vvar)->bump, 1);
	vsa_image_unmap(&img);

	assert_int_equal(vsa_image_map_file(&img, "/nonexistent/libvsched.so", &priv_opts),
			 -ENOENT);
	assert_one_line(img.err);
	assert_null(img.map_base);
	assert_int_equal(vsa_image_map_file(&img, "/", &priv_opts), -EINVAL);
	assert_one_line(img.err);
	assert_int_equal(vsa_image_map_file(&img, NULL, &priv_opts), -EINVAL);
	assert_int_equal(vsa_image_map_file(NULL, image_path, &priv_opts), -EINVAL);
	/* a file that is not an image goes through the same checks */
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	assert_int_equal(vsa_image_map_file(&img, tmpl, &priv_opts), -ENOEXEC);
	assert_one_line(img.err);
	unlink(tmpl);
}

static int memfd(void)
{
	int fd = memfd_create("vsched-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static off_t fd_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_size;
}

/* A map that must fail with -EINVAL and leave nothing mapped. */
static void expect_refused(const struct vsa_map_opts *o)
{
	struct vsa_image img;

	assert_int_equal(vsa_image_map_embedded(&img, o), -EINVAL);
	assert_null(img.map_base);
	assert_one_line(img.err);
}

static void test_map_memfd_shared(void **state)
{
	struct vsched_task_desc desc = {.kind = VSCHED_KIND_STACKLESS, .owner = 7};
	struct vsa_map_opts oa = priv_opts, ob = priv_opts;
	struct vsa_image a, b;
	vsched_ref_t r1, r2;
	char perms[5] = "";
	int fd = memfd();

	(void)state;
	oa.vvar_fd = ob.vvar_fd = fd;
	assert_int_equal(vsa_image_map_embedded(&a, &oa), 0);
	check_mapped(&a);
	/* the file holds the shared part alone */
	assert_int_equal(fd_size(fd), a.shared_size);
	assert_true(a.shared_size < a.area_size);
	maps_perms(a.shared, perms);
	assert_int_equal(perms[3], 's');
	maps_perms((char *)a.vvar - 1, perms);
	assert_int_equal(perms[3], 's');
	maps_perms((char *)a.shared - 1, perms);
	assert_string_equal(perms, "rw-p"); /* the private part */

	/* a mapper with another geometry is refused: by the file's size, or
	 * by the geometry stamped in it when the sizes agree */
	ob.geom = (struct vsched_geometry){.ncpus = 1, .queue_cap = 4, .ntasks = 2};
	expect_refused(&ob);
	ob = oa;
	ob.geom.policy = VSCHED_POLICY_RR;
	expect_refused(&ob);
	assert_int_equal(fd_size(fd), a.shared_size);

	/* one with the same geometry attaches, with a private part of its own
	 * and a record size of its own */
	ob = oa;
	ob.geom.priv_size = 64;
	assert_int_equal(vsa_image_map_embedded(&b, &ob), 0);
	check_mapped(&b);
	assert_ptr_not_equal(a.vvar, b.vvar);
	assert_int_equal(b.shared_size, a.shared_size);
	assert_int_equal(b.vvar->ncpus, 2);
	assert_int_equal(b.vvar->ntasks, 64);
	assert_int_equal(b.vvar->priv_stride, 64);
	vsched_vvar_tpriv(a.vvar, 3)->ctx_sp = 0x1234;
	assert_int_equal(vsched_vvar_tpriv(b.vvar, 3)->ctx_sp, 0);
	vsched_vvar_pcpus(a.vvar)[1].idle = 42;
	assert_int_equal(vsched_vvar_pcpus(b.vvar)[1].idle, 0);
	vsched_vvar_tpriv(a.vvar, 3)->ctx_sp = 0;
	vsched_vvar_pcpus(a.vvar)[1].idle = 0;

	/* a task allocated through one image is seen and freed through the other */
	assert_int_equal(a.api.vsched_task_alloc(VSCHED_CPU_NONE, &desc, &r1), 0);
	assert_int_equal(b.api.vsched_task_alloc(VSCHED_CPU_NONE, &desc, &r2), 0);
	assert_int_not_equal(VSCHED_REF_IDX(r1), VSCHED_REF_IDX(r2));
	assert_int_equal(vsched_vvar_glob(a.vvar)->nr_alive, 2);
	assert_int_equal(vsched_vvar_glob(b.vvar)->bump, 2);
	assert_int_equal(vsched_vvar_tasks(b.vvar)[VSCHED_REF_IDX(r1)].owner, 7);
	assert_int_equal(b.api.vsched_task_free(VSCHED_CPU_NONE, r1), 0);
	assert_int_equal(vsched_vvar_glob(a.vvar)->nr_alive, 1);
	assert_int_equal(a.api.vsched_task_free(VSCHED_CPU_NONE, r1), -ESRCH);
	assert_int_equal(a.api.vsched_task_free(VSCHED_CPU_NONE, r2), 0);
	assert_int_equal(vsched_vvar_glob(b.vvar)->nr_alive, 0);

	vsa_image_unmap(&a);
	/* the area outlives one mapping of it */
	assert_int_equal(vsched_vvar_glob(b.vvar)->bump, 2);
	vsa_image_unmap(&b);
	close(fd);
}

static void expect_bad_opts(const struct vsa_map_opts *o, int want);

/* A shared part at an offset in a larger file (a domain member's
 * section): the file is never resized, the bytes around the part never
 * touched, and a zero stamp means fresh. */
static void test_map_at_offset(void **state)
{
	struct vsa_map_opts o = priv_opts;
	struct vsa_image a, b;
	struct vsched_vvar h;
	unsigned char page[4096], junk[4096];
	off_t size;
	int fd = memfd();

	(void)state;
	assert_true(vsched_vvar_layout(&priv_opts.geom, &h) > 0);
	size = (off_t)h.shared_size + 2 * 4096;
	assert_int_equal(ftruncate(fd, size), 0);
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(pwrite(fd, junk, 4096, 0), 4096);
	assert_int_equal(pwrite(fd, junk, 4096, size - 4096), 4096);
	o.vvar_fd = fd;
	o.vvar_off = 4096;
	assert_int_equal(vsa_image_map_embedded(&a, &o), 0);
	check_mapped(&a);
	assert_int_equal(vsched_vvar_glob(a.vvar)->geom.ncpus, priv_opts.geom.ncpus);
	/* a second mapper attaches to what the first stamped */
	assert_int_equal(vsa_image_map_embedded(&b, &o), 0);
	vsched_vvar_glob(a.vvar)->bump = 5;
	assert_int_equal(vsched_vvar_glob(b.vvar)->bump, 5);
	vsa_image_unmap(&a);
	vsa_image_unmap(&b);
	assert_int_equal(fd_size(fd), size);
	assert_int_equal(pread(fd, page, 4096, 0), 4096);
	assert_memory_equal(page, junk, 4096);
	assert_int_equal(pread(fd, page, 4096, size - 4096), 4096);
	assert_memory_equal(page, junk, 4096);
	/* another geometry at the same place is refused, and changes nothing */
	o.geom.policy = VSCHED_POLICY_RR;
	expect_refused(&o);
	o.geom = priv_opts.geom;
	/* bad offsets: unaligned, past the end, without a file */
	o.vvar_off = 100;
	expect_bad_opts(&o, -EINVAL);
	o.vvar_off = 8192; /* fits, but its stamp is the junk above */
	expect_bad_opts(&o, -EINVAL);
	o.vvar_off = (uint64_t)size;
	expect_bad_opts(&o, -EINVAL);
	o.vvar_off = 1ull << 63;
	expect_bad_opts(&o, -EINVAL);
	o.vvar_fd = -1;
	o.vvar_off = 4096;
	expect_bad_opts(&o, -EINVAL);
	assert_int_equal(fd_size(fd), size);
	close(fd);
}

/* A header write faults: in a child, which must die of SIGSEGV. */
static void test_header_read_only(void **state)
{
	struct vsa_image img;
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(vsa_image_map_embedded(&img, &priv_opts), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL); /* not the test runner's handler */
		*(volatile uint64_t *)&img.vvar->tasks_off = 0;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	vsa_image_unmap(&img);
}

static void expect_bad_opts(const struct vsa_map_opts *o, int want)
{
	unsigned before = maps_count();
	struct vsa_image img;

	memset(&img, 0x5a, sizeof(img));
	assert_int_equal(vsa_image_map_embedded(&img, o), want);
	assert_one_line(img.err);
	print_message("    %-9s %s\n", ename(want), img.err);
	assert_null(img.map_base);
	assert_null(img.vvar);
	assert_int_equal(maps_count(), before);
	vsa_image_unmap(&img);
}

static void test_bad_options(void **state)
{
	struct vsa_map_opts o;
	struct vsched_vvar h;
	unsigned char junk[8192];
	int fd, pfd[2];

	(void)state;
	expect_bad_opts(NULL, -EINVAL);
	assert_int_equal(vsa_image_map_embedded(NULL, &priv_opts), -EINVAL);
	o = priv_opts;
	o.geom.ncpus = 0;
	expect_bad_opts(&o, -EINVAL);
	o = priv_opts;
	o.geom.queue_cap = VSCHED_MAX_QUEUE * 2;
	expect_bad_opts(&o, -EINVAL);
	o = priv_opts;
	o.geom.ntasks = 1;
	expect_bad_opts(&o, -EINVAL);
	o = priv_opts;
	o.geom.policy = 9;
	expect_bad_opts(&o, -EINVAL);
	o = priv_opts;
	o.vvar_fd = -2;
	expect_bad_opts(&o, -EINVAL);

	/* an empty file with a bad geometry stays empty */
	fd = memfd();
	o = priv_opts;
	o.vvar_fd = fd;
	o.geom.ncpus = VSCHED_MAX_CPUS + 1;
	expect_bad_opts(&o, -EINVAL);
	assert_int_equal(fd_size(fd), 0);
	/* so does one given a bad image */
	o.geom = priv_opts.geom;
	assert_int_equal(vsa_image_map(&(struct vsa_image){0}, "junk", 4, &o), -ENOEXEC);
	assert_int_equal(fd_size(fd), 0);

	/* a non-empty file that is not an area is not overwritten */
	memset(junk, 0xab, sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
	expect_bad_opts(&o, -EINVAL);
	assert_int_equal(fd_size(fd), sizeof(junk));
	assert_int_equal(pread(fd, junk, 16, 0), 16);
	assert_int_equal(junk[0], 0xab);
	close(fd);
	fd = memfd();
	o.vvar_fd = fd;
	assert_int_equal(write(fd, junk, 100), 100);
	expect_bad_opts(&o, -EINVAL);
	close(fd);
	/* a file of the right size whose stamp is not this geometry's (all
	 * zero, then all junk), or of the whole area's size */
	assert_true(vsched_vvar_layout(&priv_opts.geom, &h) > 0);
	for (int k = 0; k < 3; k++) {
		fd = memfd();
		o.vvar_fd = fd;
		assert_int_equal(ftruncate(fd, (off_t)(k == 2 ? h.area_size : h.shared_size)), 0);
		if (k == 1)
			assert_int_equal(pwrite(fd, junk, 4096, (off_t)h.shared_size - 4096), 4096);
		expect_bad_opts(&o, -EINVAL);
		assert_int_equal(fd_size(fd), k == 2 ? h.area_size : h.shared_size);
		close(fd);
	}
	/* not a file at all */
	assert_int_equal(pipe(pfd), 0);
	o.vvar_fd = pfd[0];
	expect_bad_opts(&o, -EINVAL);
	close(pfd[0]);
	close(pfd[1]);
	o.vvar_fd = pfd[0]; /* now closed */
	expect_bad_opts(&o, -EBADF);
}

static void test_unmap_twice(void **state)
{
	struct vsa_image img;

	(void)state;
	vsa_image_unmap(NULL);
	memset(&img, 0, sizeof(img));
	vsa_image_unmap(&img);
	assert_int_equal(vsa_image_map_embedded(&img, &priv_opts), 0);
	vsa_image_unmap(&img);
	assert_null(img.map_base);
	vsa_image_unmap(&img);
	/* a failed map leaves an image that unmaps safely too */
	assert_int_equal(vsa_image_map(&img, "junk", 4, &priv_opts), -ENOEXEC);
	vsa_image_unmap(&img);
	vsa_image_unmap(&img);
}

/*
 * The toolchain's own broken images: the loader must agree with the ABI
 * checker on each, in its own check order (relocations before undefined
 * symbols), and load the good one and the one with an extra export.
 */
static void test_built_images(void **state)
{
	static const struct {
		const char *name;
		int want;
	} wants[] = {
		{"good", 0},	      {"writable", -EACCES}, {"relative", -ELIBBAD},
		{"undefined", -ELIBBAD}, {"needed", -ELIBACC}, {"extra", 0},
	};
	unsigned matched = 0;

	(void)state;
	if (nbuilt == 0)
		skip();
	for (unsigned i = 0; i < nbuilt; i++) {
		struct vsa_image img;
		int want = 1, r;

		for (size_t k = 0; k < sizeof(wants) / sizeof(wants[0]); k++)
			if (!strcmp(wants[k].name, built_case[i]))
				want = wants[k].want;
		if (want == 1)
			fail_msg("unknown built image %s", built_case[i]);
		r = vsa_image_map_file(&img, built_path[i], &priv_opts);
		print_message("    %-9s %-9s %s\n", built_case[i], ename(r), img.err);
		assert_int_equal(r, want);
		if (r == 0) {
			/* the stubs return 0: a call into a toolchain-made image */
			assert_int_equal(img.api.vsched_yield_now(0), 0);
			assert_ptr_equal((char *)img.vvar, (char *)img.text - VSCHED_VVAR_HDR_SIZE);
		} else {
			assert_one_line(img.err);
			assert_null(img.map_base);
		}
		vsa_image_unmap(&img);
		matched++;
	}
	assert_int_equal(matched, sizeof(wants) / sizeof(wants[0]));
}

static void test_install(void **state)
{
	struct vsched_task_desc desc = {.kind = VSCHED_KIND_STACKLESS};
	struct vsa_image img;
	vsched_ref_t ref;

	(void)state;
	assert_int_equal(vsa_image_map_embedded(&img, &priv_opts), 0);
	vsa_install(&img);
	assert_ptr_equal(vsched_api.vsched_spawn, img.api.vsched_spawn);
	/* the inline wrappers call through the installed table */
	assert_int_equal(vsched_task_alloc(VSCHED_CPU_NONE, &desc, &ref), 0);
	assert_int_equal(vsched_vvar_glob(img.vvar)->nr_alive, 1);
	assert_int_equal(vsched_task_free(VSCHED_CPU_NONE, ref), 0);
	vsa_install(NULL);
	assert_null(vsched_api.vsched_task_alloc);
	vsa_image_unmap(&img);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_private),
		cmocka_unit_test(test_perf_map),
		cmocka_unit_test(test_map_file),
		cmocka_unit_test(test_map_memfd_shared),
		cmocka_unit_test(test_map_at_offset),
		cmocka_unit_test(test_header_read_only),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_unmap_twice),
		cmocka_unit_test(test_built_images),
		cmocka_unit_test(test_install),
	};

	if (argc > 1)
		image_path = argv[1];
	for (int i = 2; i + 1 < argc && nbuilt < MAX_BUILT; i += 2) {
		built_case[nbuilt] = argv[i];
		built_path[nbuilt++] = argv[i + 1];
	}
	return cmocka_run_group_tests_name("loader-map", tests, NULL, NULL);
}
