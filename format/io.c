/* io.c - placeholder until the I/O and chain layer lands. */
typedef int vf_io_placeholder;
