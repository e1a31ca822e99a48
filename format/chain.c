/* chain.c - placeholder until the I/O and chain layer lands. */
typedef int vf_chain_placeholder;
