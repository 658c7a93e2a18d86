/* empty.c — libspecx.so has no code of its own: it is the module archives
 * linked whole (src/lib/CMakeLists.txt). */
typedef int specx_lib_empty_unit; /* ISO C wants a declaration per unit */
