/*
 * ast-cpg-peer: a libcpg process that sits in CPG group `asterisk` the way Asterisk's
 * res_corosync does, driven over a line protocol, for the mixed-cluster interop tests
 * (test/integration/interop/ast-peer-interop.test.ts, wrapper ast-cpg-peer.ts).
 *
 * What it reproduces on the wire (res-corosync.md §1.2, §1.3; asterisk-groundtruth.md
 * §1.2, §1.3):
 *   - cpg_initialize (no model, no totem callback) and cpg_join of a cpg_name whose
 *     length is 8 ("asterisk", no NUL counted);
 *   - every message is one cpg_mcast_joined(CPG_TYPE_FIFO) with exactly one iovec that
 *     holds the raw serialized ast_event, no framing of our own;
 *   - on exit it calls cpg_finalize without cpg_leave, so the others see a PROCLEAVE with
 *     reason 5 (procdown), as when Asterisk unloads res_corosync or stops.
 * One deliberate difference: Asterisk leaves stack garbage after the name in the 128-byte
 * buffer; we zero it (what a sender should do; receivers compare `length` bytes only).
 * The peer never builds events itself: the test hands it the bytes, so it can replay the
 * payloads captured from a real Asterisk cluster unchanged.
 *
 * Build: gcc -O2 -Wall -Werror ast-cpg-peer.c -lcpg -o ast-cpg-peer
 * Run:   ast-cpg-peer            (inside the namespace of a corosync node)
 *
 * Commands on stdin, one per line:
 *   send <hex>   multicast these bytes        -> SENT <len> | ERROR mcast <cs_error>
 *   members      cpg_membership_get           -> MEMBERS members=<n:p,...>
 *   quit         finalize and exit 0 (so does EOF on stdin, SIGTERM and SIGINT)
 * Lines on stdout, each flushed as soon as it is written:
 *   READY nodeid=<n> pid=<p>                  after cpg_join returned
 *   CONFCHG members=<n:p,...> joined=<n:p:reason,...> left=<n:p:reason,...>
 *   DELIVER nodeid=<n> pid=<p> len=<l> hex=<hex>
 *   SENT <len>
 *   MEMBERS members=<n:p,...>
 *   ERROR <what> <detail>                      (the process goes on unless it says FATAL)
 *   BYE reason=<quit|eof|signal> finalize=<cs_error>   last line of a clean exit
 * Reasons are CPG_REASON_* numbers (1 join, 2 leave, 3 nodedown, 4 nodeup, 5 procdown).
 * Exit status: 0 after quit/EOF/signal, 1 when CPG could not be set up, 2 when CPG broke
 * while running (dispatch failed: corosync went away), 3 when stdout went away.
 */
#define _POSIX_C_SOURCE 200809L
#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* The group res_corosync uses; its length goes into cpg_name without a NUL. */
static const char GROUP_NAME[] = "asterisk";

/* An ast_event carries its total length in a u16, so nothing res_corosync sends is longer. */
#define MAX_PAYLOAD_BYTES 65535u
/* Longest command line we keep: "send " plus the hex of the largest payload, with room to spare. */
#define MAX_LINE_BYTES (2u * MAX_PAYLOAD_BYTES + 64u)
/* mcast/join attempts while corosync answers CS_ERR_TRY_AGAIN, and the wait between them. */
#define TRY_AGAIN_ATTEMPTS 200
#define TRY_AGAIN_WAIT_MS 10

static cpg_handle_t handle;
static struct cpg_name group;
static volatile sig_atomic_t got_signal;

/* Line assembly for stdin: bounded, and an oversize line is dropped up to its newline. */
static char line_buf[MAX_LINE_BYTES + 1];
static size_t line_len;
static int line_discarding;
static size_t line_dropped;
static unsigned char payload_buf[MAX_PAYLOAD_BYTES];

/* ------------------------------------------------------------------------------------ */
/* Output: everything goes through out_line() so that a vanished reader ends the process. */

static void out_done(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		/* Nobody reads us any more; finalize so the group sees us go, then stop. */
		cpg_finalize(handle);
		_exit(3);
	}
}

static void put_hex(const unsigned char *bytes, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		putchar(digits[bytes[i] >> 4]);
		putchar(digits[bytes[i] & 0x0f]);
	}
}

static void put_addresses(const struct cpg_address *list, size_t n, int with_reason)
{
	for (size_t i = 0; i < n; i++) {
		printf("%s%u:%u", i == 0 ? "" : ",", list[i].nodeid, list[i].pid);
		if (with_reason)
			printf(":%u", list[i].reason);
	}
}

static void error_line(const char *what, const char *detail)
{
	printf("ERROR %s %s\n", what, detail);
	out_done();
}

static void error_cs(const char *what, cs_error_t rc)
{
	printf("ERROR %s %d\n", what, (int)rc);
	out_done();
}

/* ------------------------------------------------------------------------------------ */
/* CPG callbacks: print what arrived, nothing else. */

static void on_deliver(cpg_handle_t h, const struct cpg_name *name, uint32_t nodeid, uint32_t pid, void *msg, size_t len)
{
	(void)h;
	(void)name;
	printf("DELIVER nodeid=%u pid=%u len=%zu hex=", nodeid, pid, len);
	put_hex(msg, len);
	putchar('\n');
	out_done();
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *name, const struct cpg_address *members, size_t n_members,
		       const struct cpg_address *left, size_t n_left, const struct cpg_address *joined, size_t n_joined)
{
	(void)h;
	(void)name;
	fputs("CONFCHG members=", stdout);
	put_addresses(members, n_members, 0);
	fputs(" joined=", stdout);
	put_addresses(joined, n_joined, 1);
	fputs(" left=", stdout);
	put_addresses(left, n_left, 1);
	putchar('\n');
	out_done();
}

static cpg_callbacks_t callbacks = {
	.cpg_deliver_fn = on_deliver,
	.cpg_confchg_fn = on_confchg,
};

/* Runs pending CPG callbacks; a broken connection to corosync is fatal. */
static void dispatch_or_die(void)
{
	cs_error_t rc = cpg_dispatch(handle, CS_DISPATCH_ALL);
	if (rc == CS_OK || rc == CS_ERR_TRY_AGAIN)
		return;
	printf("ERROR FATAL dispatch %d\n", (int)rc);
	out_done();
	cpg_finalize(handle);
	exit(2);
}

/* Waits up to TRY_AGAIN_WAIT_MS for CPG traffic and handles it, so that a full send
 * queue can drain (our own deliveries are part of what frees it). */
static void wait_for_cpg(void)
{
	int fd = -1;
	if (cpg_fd_get(handle, &fd) != CS_OK) {
		poll(NULL, 0, TRY_AGAIN_WAIT_MS);
		return;
	}
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, TRY_AGAIN_WAIT_MS) > 0)
		dispatch_or_die();
}

/* ------------------------------------------------------------------------------------ */
/* Commands */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void cmd_send(const char *hex)
{
	size_t n = strlen(hex);
	if (n == 0) {
		error_line("bad-hex", "empty payload");
		return;
	}
	if (n % 2 != 0) {
		error_line("bad-hex", "odd number of digits");
		return;
	}
	if (n / 2 > MAX_PAYLOAD_BYTES) {
		error_line("bad-hex", "payload longer than 65535 bytes");
		return;
	}
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
		if (hi < 0 || lo < 0) {
			error_line("bad-hex", "not a hex digit");
			return;
		}
		payload_buf[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	/* One iovec with the event's bytes and FIFO ordering: exactly res_corosync's call. */
	struct iovec iov = { .iov_base = payload_buf, .iov_len = n / 2 };
	cs_error_t rc = CS_ERR_TRY_AGAIN;
	for (int attempt = 0; attempt < TRY_AGAIN_ATTEMPTS; attempt++) {
		rc = cpg_mcast_joined(handle, CPG_TYPE_FIFO, &iov, 1);
		if (rc != CS_ERR_TRY_AGAIN)
			break;
		/* res_corosync drops the event here; the tests want it delivered, so wait a bit. */
		wait_for_cpg();
	}
	if (rc != CS_OK) {
		error_cs("mcast", rc);
		return;
	}
	printf("SENT %zu\n", n / 2);
	out_done();
}

static void cmd_members(void)
{
	struct cpg_address list[CPG_MEMBERS_MAX];
	int n = CPG_MEMBERS_MAX;
	cs_error_t rc = cpg_membership_get(handle, &group, list, &n);
	if (rc != CS_OK) {
		error_cs("membership", rc);
		return;
	}
	fputs("MEMBERS members=", stdout);
	put_addresses(list, (size_t)n, 0);
	putchar('\n');
	out_done();
}

/* Handles one complete line; returns 1 when the peer should stop. */
static int handle_line(char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	if (len == 0)
		return 0;
	if (strcmp(line, "quit") == 0)
		return 1;
	if (strcmp(line, "members") == 0) {
		cmd_members();
		return 0;
	}
	if (strncmp(line, "send ", 5) == 0) {
		cmd_send(line + 5);
		return 0;
	}
	if (strcmp(line, "send") == 0) {
		error_line("bad-hex", "empty payload");
		return 0;
	}
	/* Echo at most a short prefix of what we did not understand. */
	printf("ERROR unknown-command %.40s\n", line);
	out_done();
	return 0;
}

/* Feeds bytes read from stdin into the line assembler; returns 1 on `quit`. */
static int feed(const char *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = bytes[i];
		if (line_discarding) {
			line_dropped++;
			if (c == '\n') {
				char detail[64];
				snprintf(detail, sizeof detail, "%zu bytes dropped (limit %u)", line_dropped, MAX_LINE_BYTES);
				error_line("line-too-long", detail);
				line_discarding = 0;
				line_dropped = 0;
			}
			continue;
		}
		if (c == '\n') {
			line_buf[line_len] = '\0';
			size_t len = line_len;
			line_len = 0;
			if (handle_line(line_buf, len))
				return 1;
			continue;
		}
		if (line_len >= MAX_LINE_BYTES) {
			/* Too long: forget what we have and skip to the end of this line. */
			line_discarding = 1;
			line_dropped = line_len + 1;
			line_len = 0;
			continue;
		}
		line_buf[line_len++] = c;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------ */

static void on_signal(int sig)
{
	got_signal = sig;
}

/* cpg_join, retried while corosync is synchronizing (it answers CS_ERR_TRY_AGAIN then). */
static cs_error_t join_group(void)
{
	cs_error_t rc = CS_ERR_TRY_AGAIN;
	for (int attempt = 0; attempt < TRY_AGAIN_ATTEMPTS && rc == CS_ERR_TRY_AGAIN; attempt++) {
		rc = cpg_join(handle, &group);
		if (rc == CS_ERR_TRY_AGAIN)
			poll(NULL, 0, TRY_AGAIN_WAIT_MS);
	}
	return rc;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a signal must wake poll() so we can finalize and leave. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A closed stdout shows up as a write error (handled in out_done), not a silent death. */
	signal(SIGPIPE, SIG_IGN);

	memset(&group, 0, sizeof group);
	group.length = (uint32_t)(sizeof GROUP_NAME - 1);
	memcpy(group.value, GROUP_NAME, group.length);

	cs_error_t rc = cpg_initialize(&handle, &callbacks);
	if (rc != CS_OK) {
		printf("ERROR FATAL initialize %d\n", (int)rc);
		fflush(stdout);
		return 1;
	}
	rc = join_group();
	if (rc != CS_OK) {
		printf("ERROR FATAL join %d\n", (int)rc);
		fflush(stdout);
		cpg_finalize(handle);
		return 1;
	}
	unsigned int nodeid = 0;
	rc = cpg_local_get(handle, &nodeid);
	if (rc != CS_OK) {
		printf("ERROR FATAL local_get %d\n", (int)rc);
		fflush(stdout);
		cpg_finalize(handle);
		return 1;
	}
	int cpg_fd = -1;
	rc = cpg_fd_get(handle, &cpg_fd);
	if (rc != CS_OK) {
		printf("ERROR FATAL fd_get %d\n", (int)rc);
		fflush(stdout);
		cpg_finalize(handle);
		return 1;
	}
	printf("READY nodeid=%u pid=%ld\n", nodeid, (long)getpid());
	out_done();

	const char *why = "eof";
	for (;;) {
		if (got_signal) {
			why = "signal";
			break;
		}
		struct pollfd fds[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = cpg_fd, .events = POLLIN },
		};
		int ready = poll(fds, 2, -1);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			error_line("poll", strerror(errno));
			break;
		}
		/* CPG first: what corosync already delivered is printed before we act on a command. */
		if (fds[1].revents & (POLLIN | POLLERR | POLLHUP))
			dispatch_or_die();
		if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
			char chunk[65536];
			ssize_t got = read(STDIN_FILENO, chunk, sizeof chunk);
			if (got < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				error_line("stdin", strerror(errno));
				break;
			}
			if (got == 0) {
				/* EOF: an unterminated last line still counts as a command. */
				if (line_discarding)
					feed("\n", 1);
				else if (line_len > 0) {
					line_buf[line_len] = '\0';
					size_t len = line_len;
					line_len = 0;
					if (handle_line(line_buf, len))
						why = "quit";
				}
				break;
			}
			if (feed(chunk, (size_t)got)) {
				why = "quit";
				break;
			}
		}
	}
	/* Like res_corosync: no cpg_leave, so the group sees this process go with procdown. */
	rc = cpg_finalize(handle);
	printf("BYE reason=%s finalize=%d\n", why, (int)rc);
	fflush(stdout);
	return 0;
}
