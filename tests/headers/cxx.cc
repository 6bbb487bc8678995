// SPDX-License-Identifier: MIT
// The public headers as C++: they compile under -pedantic, and their
// initialisers are valid C++ (the CI install stage builds and runs a C++
// program against the installed library).
#include <vsched/vs.h>
#include <vsched/sync.h>
#include <vsched/io.h>
#include <vsched/domain.h>
#include <vsched/stats.h>

static struct vs_wq wq = VS_WQ_INIT;
static struct vs_mutex m = VS_MUTEX_INIT;
static struct vs_cond cv = VS_COND_INIT;
static struct vs_sem sem = VS_SEM_INIT(1);

int header_cxx_check();
int header_cxx_check()
{
	struct vs_task_attr attr = {};
	struct vs_config cfg = {};

	(void)attr;
	(void)cfg;
	(void)wq;
	(void)m;
	(void)cv;
	(void)sem;
	return 0;
}
