/* mps2.h: the few MPS2 (AN386 / AN500) registers the qemu port touches. */
#ifndef HL_MPS2_H
#define HL_MPS2_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* CMSDK APB UART0 (QEMU's -serial connects here) */
#define MPS2_UART0 0x40004000u
#define UART_DATA REG32(MPS2_UART0 + 0x00u)
#define UART_STATE REG32(MPS2_UART0 + 0x04u)
#define UART_CTRL REG32(MPS2_UART0 + 0x08u)
#define UART_INTCLEAR REG32(MPS2_UART0 + 0x0Cu)
#define UART_BAUDDIV REG32(MPS2_UART0 + 0x10u)
#define UART_STATE_TXFULL 0x1u
#define UART_STATE_RXFULL 0x2u
#define UART_CTRL_TXEN 0x1u
#define UART_CTRL_RXEN 0x2u
#define UART_CTRL_RXIRQ 0x8u
#define UART_INT_RX 0x2u
#define UART0_RX_IRQ 0u /* NVIC line; its vector is entry 16 + 0 */

/* FPGA IO: two user LEDs; the port drives the stage id (bits 0-1) and a "frame active" view of it */
#define MPS2_FPGAIO_LED REG32(0x40028000u)

/* Cortex-M system registers */
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define SCB_CPACR REG32(0xE000ED88u)
#define NVIC_ISER0 REG32(0xE000E100u)

/* Both machines clock the CPU (and SysTick's processor-clock source) at 25 MHz in QEMU. */
#define MPS2_SYSCLK_HZ 25000000u

#endif
