/* fs_mem.c - placeholder until the I/O and chain layer lands. */
typedef int vf_fs_mem_placeholder;
