# The subprocess helpers (specx_proc.h) as a library, for test directories
# that run the specx binary: include() this file, link specx_test_proc.
# Guarded so several test directories can include it.
if(NOT TARGET specx_test_proc)
  add_library(specx_test_proc STATIC ${CMAKE_CURRENT_LIST_DIR}/specx_proc.c)
  target_include_directories(specx_test_proc PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(specx_test_proc PUBLIC PkgConfig::CMOCKA)
  target_compile_options(specx_test_proc PRIVATE -Wno-format-truncation)
endif()
