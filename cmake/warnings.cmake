# Strict warnings on joule's own targets (not on test stubs that mimic C APIs).
function(joule_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wvla -Wformat=2 -Wwrite-strings
    -Werror=implicit-function-declaration)
  if(JOULE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
