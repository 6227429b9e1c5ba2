/* startup.c: vector table and reset for the Cortex-M4F / Cortex-M7 qemu images. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mps2.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern void (*const __init_array_start[])(void);
extern void (*const __init_array_end[])(void);
int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);
void UART0_RX_Handler(void);

/* No heap in these images: every buffer is static. newlib's printf family links malloc for the
 * streams that grow (asprintf); the fixed-buffer snprintf the engine uses never calls it, and if
 * anything did, it gets NULL here rather than memory carved out of the stack. */
void *_sbrk(ptrdiff_t incr);
void *_sbrk(ptrdiff_t incr)
{
    (void)incr;
    errno = ENOMEM;
    return (void *)-1;
}

void Default_Handler(void)
{
    for (;;) {
        MPS2_FPGAIO_LED = 0x3u; /* both LEDs on: a fault */
    }
}

__attribute__((section(".vectors"), used)) static void (*const vectors[17])(void) = {
    (void (*)(void))(uintptr_t)&_estack,
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    0, 0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
    UART0_RX_Handler, /* IRQ 0 */
};

void Reset_Handler(void)
{
    memcpy(&_sdata, &_sidata, (size_t)((uintptr_t)&_edata - (uintptr_t)&_sdata));
    memset(&_sbss, 0, (size_t)((uintptr_t)&_ebss - (uintptr_t)&_sbss));
    /* the core is built with -mfloat-abi=hard: give CP10/CP11 full access before any FP instruction */
    SCB_CPACR |= (0xFu << 20);
    __asm volatile("dsb\n isb" ::: "memory");
    for (void (*const *ctor)(void) = __init_array_start; ctor < __init_array_end; ctor++) {
        (*ctor)(); /* C++ static constructors, when the image has any */
    }
    (void)main();
    Default_Handler();
}
