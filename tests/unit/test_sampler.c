/* placeholder: filled by the work on this module */
#include "test.h"

int main(void)
{
    CHECK(1);
    TEST_MAIN_END();
}
