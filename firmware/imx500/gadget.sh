#!/bin/sh
# Make a Raspberry Pi (USB-C device port: Pi 4/5, Zero 2 W) appear to the host as a CDC-ACM serial
# gadget that hostlink discovery recognises: 1d6b:0104 with the product "hostlink IMX500 agent".
# Needs dtoverlay=dwc2 in /boot/firmware/config.txt and modules dwc2 + libcomposite. Run as root;
# then start the agent with: python3 -m imx500_agent --serial /dev/ttyGS0
set -eu
G=/sys/kernel/config/usb_gadget/hostlink
modprobe libcomposite
[ -d "$G" ] && { echo "gadget already configured"; exit 0; }
mkdir -p "$G"
echo 0x1d6b > "$G/idVendor"     # Linux Foundation
echo 0x0104 > "$G/idProduct"    # Multifunction Composite Gadget
echo 0x0100 > "$G/bcdDevice"
mkdir -p "$G/strings/0x409"
serial=$(awk '/^Serial/ {print $3}' /proc/cpuinfo)
echo "${serial:-0000}" > "$G/strings/0x409/serialnumber"
echo "Raspberry Pi" > "$G/strings/0x409/manufacturer"
echo "hostlink IMX500 agent" > "$G/strings/0x409/product"
mkdir -p "$G/configs/c.1/strings/0x409" "$G/functions/acm.usb0"
echo "CDC ACM" > "$G/configs/c.1/strings/0x409/configuration"
echo 250 > "$G/configs/c.1/MaxPower"
ln -s "$G/functions/acm.usb0" "$G/configs/c.1/"
ls /sys/class/udc | head -n1 > "$G/UDC"
echo "gadget up: /dev/ttyGS0"
