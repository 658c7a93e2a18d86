# Helpers for tests that run `specx serve` / `specx run` children and call
# them (serve_proc.h, test_client.h): include() this file, link
# specx_test_serve. Guarded so several test directories can include it.
if(NOT TARGET specx_test_serve)
  add_library(specx_test_serve STATIC ${CMAKE_CURRENT_LIST_DIR}/serve_proc.c
    ${CMAKE_CURRENT_LIST_DIR}/test_client.c)
  target_include_directories(specx_test_serve PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(specx_test_serve PUBLIC specx_rpc specx_media Threads::Threads)
endif()
