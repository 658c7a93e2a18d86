/* test_groups.h — one test binary, several ctest tests: runs the tests of
 * the group named on the command line ("all": every one). Header-only;
 * include after <cmocka.h>. */
#ifndef SPECX_TEST_GROUPS_H
#define SPECX_TEST_GROUPS_H

#include <stdio.h>
#include <string.h>

typedef struct specx_test_in_group {
    const char *group;
    struct CMUnitTest t;
} specx_test_in_group;

/* 2 (with a message) when no test is in the group. */
static inline int specx_test_run_group(const char *group, const specx_test_in_group *all, size_t n)
{
    struct CMUnitTest sel[n > 0 ? n : 1];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(group, "all") == 0 || strcmp(group, all[i].group) == 0) {
            sel[k++] = all[i].t;
        }
    }
    if (k == 0) {
        fprintf(stderr, "unknown group '%s'\n", group);
        return 2;
    }
    return _cmocka_run_group_tests(group, sel, k, NULL, NULL);
}

#endif
