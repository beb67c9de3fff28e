// Package natlab builds a small internet on one machine out of Linux network
// namespaces, veth pairs and nftables NAT, and runs real cairn nodes in it
// (`ip netns exec`), to test NAT traversal: hole punching through
// endpoint-independent NATs and relaying through a public node when a NAT
// is symmetric.
//
// Everything lives in namespaces the lab creates, named cnl<pid>-<role>:
// no interface is added to the machine's own namespace and no route leads
// out, so no packet leaves the lab. The lab's "internet" is 10.77.0.0/24
// (a bridge in the inet namespace); home networks are 10.77.N.0/24 behind
// router namespaces. libp2p hole punches and relays only on public
// addresses, so the nodes run with cairn's hidden --lab-public-net
// 10.77.0.0/24, which counts that private range as public in their process.
//
// It needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), ip (iproute2) and nft.
// Close deletes the namespaces, which removes their interfaces and NAT
// rules; New sweeps namespaces left by lab processes that no longer run.
package natlab
