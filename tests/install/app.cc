// SPDX-License-Identifier: MIT
// The installed library from C++ (CI's install stage, with g++ and clang++):
// tasks made from lambdas pass numbers through a channel to a stackless
// task, whose poll function keeps its state in a C++ object.
#include <cerrno>
#include <cstdio>
#include <vector>

#include <vsched/io.h>
#include <vsched/sync.h>
#include <vsched/vs.h>

namespace {

struct Summer {
	vs_chan_t *ch;
	long total = 0;
	int left;

	static vs_poll poll(void *state, int *code)
	{
		auto *s = static_cast<Summer *>(state);
		int v;

		while (s->left > 0) {
			int r = vs_chan_recv_poll(s->ch, &v);

			if (r == -EAGAIN)
				return VS_PENDING;
			if (r < 0) {
				*code = r;
				return VS_READY;
			}
			s->total += v;
			s->left--;
		}
		*code = 0;
		return VS_READY;
	}
};

} // namespace

int main()
{
	vs_config cfg{};
	vs_chan_t *ch;
	std::vector<vs_task_t *> senders(4);
	vs_task_t *summer_task;
	int code = -1;

	cfg.ncpus = 2;
	if (vs_runtime_start(&cfg) != 0 || vs_chan_create(sizeof(int), 8, &ch) != 0)
		return 1;
	Summer summer{ ch, 0, 4 * 100 };
	if (vs_task_spawn_poll(Summer::poll, &summer, nullptr, &summer_task) != 0)
		return 1;
	for (auto &t : senders) {
		auto send = [](void *arg) -> int {
			for (int i = 1; i <= 100; i++)
				if (vs_chan_send(static_cast<vs_chan_t *>(arg), &i) != 0)
					return 1;
			return 0;
		};
		if (vs_task_spawn(send, ch, nullptr, &t) != 0)
			return 1;
	}
	int bad = 0;
	for (auto *t : senders)
		bad += vs_task_join(t, &code) != 0 || code != 0;
	bad += vs_task_join(summer_task, &code) != 0 || code != 0;
	vs_chan_destroy(ch);
	if (vs_runtime_stop() != 0)
		return 1;
	std::printf("app.cc (libvsched %s): total %ld (want %d)\n", vs_version_string(),
		    summer.total, 4 * 5050);
	return bad || summer.total != 4 * 5050;
}
