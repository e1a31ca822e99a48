/* io_mem.c - placeholder until the I/O and chain layer lands. */
typedef int vf_io_mem_placeholder;
