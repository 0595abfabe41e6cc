/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _LKL_NET_H
#define _LKL_NET_H

/*
 * Upstream LKL's network helpers, declared so that its programs build
 * unchanged. lkl is built without networking (no network devices, no
 * CONFIG_NET stack beyond what file systems need), so each of these fails:
 * the int functions return -LKL_ENOSYS, the constructors return NULL and
 * the void ones do nothing. Upstream's own headers define them the same way
 * when its host library is built without virtio-net.
 *
 * Included by <lkl.h>; not meant to be included on its own.
 */

#ifdef __cplusplus
extern "C" {
#endif

/* A host network device (a TAP, raw socket, ... in upstream LKL). */
struct lkl_netdev;

/* Arguments of lkl_netdev_add(): an optional MAC address, offload bits. */
struct lkl_netdev_args {
	void *mac;
	unsigned int offload;
};

static inline int lkl_netdev_add(struct lkl_netdev *nd,
				 struct lkl_netdev_args *args)
{
	(void)nd;
	(void)args;
	return -LKL_ENOSYS;
}

static inline void lkl_netdev_remove(int id)
{
	(void)id;
}

static inline void lkl_netdev_free(struct lkl_netdev *nd)
{
	(void)nd;
}

static inline int lkl_netdev_get_ifindex(int id)
{
	(void)id;
	return -LKL_ENOSYS;
}

static inline struct lkl_netdev *lkl_netdev_tap_create(const char *ifname,
						       int offload)
{
	(void)ifname;
	(void)offload;
	return 0;
}

static inline struct lkl_netdev *lkl_netdev_macvtap_create(const char *path,
							   int offload)
{
	(void)path;
	(void)offload;
	return 0;
}

static inline struct lkl_netdev *lkl_netdev_raw_create(const char *ifname)
{
	(void)ifname;
	return 0;
}

static inline struct lkl_netdev *lkl_netdev_pipe_create(const char *ifname,
							int offload)
{
	(void)ifname;
	(void)offload;
	return 0;
}

static inline struct lkl_netdev *lkl_netdev_vde_create(const char *switch_path)
{
	(void)switch_path;
	return 0;
}

static inline struct lkl_netdev *lkl_netdev_dpdk_create(const char *ifname,
							int offload,
							unsigned char *mac)
{
	(void)ifname;
	(void)offload;
	(void)mac;
	return 0;
}

static inline int lkl_ifname_to_ifindex(const char *name)
{
	(void)name;
	return -LKL_ENOSYS;
}

static inline int lkl_if_up(int ifindex)
{
	(void)ifindex;
	return -LKL_ENOSYS;
}

static inline int lkl_if_down(int ifindex)
{
	(void)ifindex;
	return -LKL_ENOSYS;
}

static inline int lkl_if_set_mtu(int ifindex, int mtu)
{
	(void)ifindex;
	(void)mtu;
	return -LKL_ENOSYS;
}

/* addr: 4 bytes, network order (a struct in_addr). */
static inline int lkl_if_set_ipv4(int ifindex, unsigned int addr,
				  unsigned int netmask_len)
{
	(void)ifindex;
	(void)addr;
	(void)netmask_len;
	return -LKL_ENOSYS;
}

static inline int lkl_set_ipv4_gateway(unsigned int addr)
{
	(void)addr;
	return -LKL_ENOSYS;
}

static inline int lkl_if_set_ipv4_gateway(int ifindex, unsigned int addr,
					  unsigned int netmask_len,
					  unsigned int gw_addr)
{
	(void)ifindex;
	(void)addr;
	(void)netmask_len;
	(void)gw_addr;
	return -LKL_ENOSYS;
}

/* addr: 16 bytes (a struct in6_addr). */
static inline int lkl_if_set_ipv6(int ifindex, void *addr,
				  unsigned int netprefix_len)
{
	(void)ifindex;
	(void)addr;
	(void)netprefix_len;
	return -LKL_ENOSYS;
}

static inline int lkl_set_ipv6_gateway(void *addr)
{
	(void)addr;
	return -LKL_ENOSYS;
}

static inline int lkl_if_set_ipv6_gateway(int ifindex, void *addr,
					  unsigned int netmask_len,
					  void *gw_addr)
{
	(void)ifindex;
	(void)addr;
	(void)netmask_len;
	(void)gw_addr;
	return -LKL_ENOSYS;
}

static inline int lkl_if_add_ip(int ifindex, int af, void *addr,
				unsigned int netprefix_len)
{
	(void)ifindex;
	(void)af;
	(void)addr;
	(void)netprefix_len;
	return -LKL_ENOSYS;
}

static inline int lkl_if_del_ip(int ifindex, int af, void *addr,
				unsigned int netprefix_len)
{
	(void)ifindex;
	(void)af;
	(void)addr;
	(void)netprefix_len;
	return -LKL_ENOSYS;
}

static inline int lkl_add_gateway(int af, void *gwaddr)
{
	(void)af;
	(void)gwaddr;
	return -LKL_ENOSYS;
}

static inline int lkl_if_add_gateway(int ifindex, int af, void *gwaddr)
{
	(void)ifindex;
	(void)af;
	(void)gwaddr;
	return -LKL_ENOSYS;
}

static inline int lkl_if_add_rule_from_saddr(int ifindex, int af, void *saddr)
{
	(void)ifindex;
	(void)af;
	(void)saddr;
	return -LKL_ENOSYS;
}

static inline int lkl_if_add_linklocal(int ifindex, int af, void *addr,
				       int netprefix_len)
{
	(void)ifindex;
	(void)af;
	(void)addr;
	(void)netprefix_len;
	return -LKL_ENOSYS;
}

static inline int lkl_if_wait_ipv6_dad(int ifindex, void *addr)
{
	(void)ifindex;
	(void)addr;
	return -LKL_ENOSYS;
}

static inline int lkl_add_neighbor(int ifindex, int af, void *addr, void *mac)
{
	(void)ifindex;
	(void)af;
	(void)addr;
	(void)mac;
	return -LKL_ENOSYS;
}

static inline int lkl_qdisc_add(int ifindex, const char *root,
				const char *type)
{
	(void)ifindex;
	(void)root;
	(void)type;
	return -LKL_ENOSYS;
}

static inline void lkl_qdisc_parse_add(int ifindex, const char *entries)
{
	(void)ifindex;
	(void)entries;
}

#ifdef __cplusplus
}
#endif

#endif /* _LKL_NET_H */
