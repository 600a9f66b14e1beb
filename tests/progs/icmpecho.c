/*
 * icmpecho.c - one ping: send an ICMP echo request to an IPv4 address and
 * wait for its reply.
 *
 * The default image has no ping(8), and a ping of our own needs only a raw
 * ICMP socket, which root in a network namespace may open (CAP_NET_RAW over
 * it).  tests/ext-net.bats runs it in the container, towards the host, and
 * on the host, towards the container.
 *
 * Usage: icmpecho ADDRESS|gateway [SECONDS]
 *   "gateway" is the default route's gateway, from /proc/net/route: from
 *   a container of the net extension, the host's end of its veth pair.
 *   Prints "reply from ADDRESS" and exits 0 when the reply comes; exits 1
 *   when none came within SECONDS (default 5), 2 on a usage or system error.
 *
 * See: icmp(7), raw(7), RFC 792
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SECONDS 5
#define ECHO_ID		0x4346 /* "CF" */

/* The gateway of the default route: /proc/net/route lists each route's
 * destination and gateway as hex, in network byte order. */
static int default_gateway(struct in_addr *gw)
{
	char line[256];
	unsigned int dest, gateway;
	FILE *f = fopen("/proc/net/route", "r");
	int found = 0;

	if (f == NULL)
		return -1;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%*s %x %x", &dest, &gateway) == 2 &&
		    dest == 0 && gateway != 0) {
			gw->s_addr = gateway;
			found = 1;
		}
	fclose(f);
	return found ? 0 : -1;
}

/* The Internet checksum: the ones' complement of the ones' complement sum
 * of the 16-bit words. */
static unsigned short checksum(const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned long sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (unsigned long)(p[0] << 8 | p[1]);
	if (len == 1)
		sum += (unsigned long)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((unsigned short)~sum);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct sockaddr_in to = {.sin_family = AF_INET};
	struct icmphdr echo = {.type = ICMP_ECHO};
	unsigned char packet[1500];
	long seconds = DEFAULT_SECONDS, deadline;
	char text[INET_ADDRSTRLEN];
	int fd;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: icmpecho ADDRESS|gateway [SECONDS]\n");
		return 2;
	}
	if (argc == 3)
		seconds = strtol(argv[2], NULL, 10);
	if (strcmp(argv[1], "gateway") == 0) {
		if (default_gateway(&to.sin_addr) == -1) {
			fprintf(stderr,
				"icmpecho: no default gateway in /proc/net/route\n");
			return 2;
		}
	} else if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
		fprintf(stderr, "icmpecho: not an IPv4 address: %s\n", argv[1]);
		return 2;
	}
	inet_ntop(AF_INET, &to.sin_addr, text, sizeof(text));

	fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (fd == -1) {
		perror("icmpecho: socket AF_INET SOCK_RAW IPPROTO_ICMP");
		return 2;
	}
	echo.un.echo.id = htons(ECHO_ID);
	echo.un.echo.sequence = htons(1);
	echo.checksum = checksum(&echo, sizeof(echo));
	if (sendto(fd, &echo, sizeof(echo), 0, (struct sockaddr *)&to,
		   sizeof(to)) == -1) {
		fprintf(stderr, "icmpecho: send to %s: %s\n", text,
			strerror(errno));
		return 1;
	}

	/* A raw socket gets every ICMP packet for this host, IP header first:
	 * keep only an echo reply from the address, with our id. */
	deadline = now_ms() + seconds * 1000;
	for (long left; (left = deadline - now_ms()) > 0;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t n;
		const struct iphdr *ip = (const struct iphdr *)packet;
		const struct icmphdr *reply;

		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recvfrom(fd, packet, sizeof(packet), 0,
			     (struct sockaddr *)&from, &fromlen);
		if (n < (ssize_t)sizeof(*ip) ||
		    n < (ssize_t)(ip->ihl * 4 + sizeof(*reply)))
			continue;
		reply = (const struct icmphdr *)(packet + ip->ihl * 4);
		if (from.sin_addr.s_addr == to.sin_addr.s_addr &&
		    reply->type == ICMP_ECHOREPLY &&
		    reply->un.echo.id == htons(ECHO_ID)) {
			printf("reply from %s\n", text);
			return 0;
		}
	}
	fprintf(stderr, "icmpecho: no reply from %s in %ld s\n", text, seconds);
	return 1;
}
