# vm.sh: level-2 VMs for the end-to-end scenarios, sourced by
# scenarios.sh inside the level-1 guest.  Each VM is a QEMU whose serial
# console is a pair of FIFOs; its init (l2-init) runs the commands sent
# there and frames their output, so that a scenario can run sg_persist in
# the VM and read what it printed and its exit status.
#
#   vm_start NAME [QEMU OPTION...]   boot it in the background
#   vm_wait NAME SECONDS             wait until it serves commands
#   vm_run NAME COMMAND              run COMMAND; sets VM_OUT and VM_RC
#   vm_stop NAME                     power it off

declare -A VM_FD_IN VM_FD_OUT VM_PID
VM_SEQ=0
VM_OUT=
VM_RC=
VM_COMMAND_TIMEOUT=${VM_COMMAND_TIMEOUT:-240}

vm_start() {
    local name=$1
    shift
    local dir=$E2E_TMP/vm-$name
    local fd_in fd_out

    mkdir -p "$dir"
    mkfifo "$dir/serial.in" "$dir/serial.out"
    qemu-system-x86_64 -accel tcg -cpu max -m 384 -smp 1 -nodefaults \
        -display none -no-reboot -name "guest=$name" \
        -kernel "$E2E_IMAGES/vmlinuz" -initrd "$E2E_IMAGES/l2.cpio.gz" \
        -append "console=ttyS0 quiet loglevel=0 panic=-1" \
        -chardev "pipe,id=console,path=$dir/serial" -serial chardev:console \
        "$@" >"$dir/qemu.log" 2>&1 &
    VM_PID[$name]=$!
    # Read-write opens of a FIFO never block.
    exec {fd_in}<>"$dir/serial.in"
    exec {fd_out}<>"$dir/serial.out"
    VM_FD_IN[$name]=$fd_in
    VM_FD_OUT[$name]=$fd_out
}

vm_wait() {
    local name=$1 limit=$2 line
    local deadline=$((SECONDS + limit))

    while [ $SECONDS -lt $deadline ]; do
        if ! kill -0 "${VM_PID[$name]}" 2>/dev/null; then
            echo "VM $name exited: $(cat "$E2E_TMP/vm-$name/qemu.log")"
            return 1
        fi
        if IFS= read -r -t 5 -u "${VM_FD_OUT[$name]}" line; then
            case $line in
            "<<L2READY "*)
                echo "VM $name ready: ${line#<<L2READY }"
                return 0
                ;;
            esac
        fi
    done
    echo "VM $name not ready after $limit s"
    return 1
}

vm_run() {
    local name=$1 command=$2 line started=0
    local deadline=$((SECONDS + VM_COMMAND_TIMEOUT))
    local id=$((++VM_SEQ))

    VM_OUT=
    VM_RC=
    printf '%s %s\n' "$id" "$command" >&"${VM_FD_IN[$name]}"
    while [ $SECONDS -lt $deadline ]; do
        if ! IFS= read -r -t 10 -u "${VM_FD_OUT[$name]}" line; then
            kill -0 "${VM_PID[$name]}" 2>/dev/null || break
            continue
        fi
        case $line in
        "<<BEGIN $id>>") started=1 ;;
        "<<END $id rc="*)
            line=${line#<<END $id rc=}
            VM_RC=${line%>>}
            return 0
            ;;
        *) [ $started = 1 ] && VM_OUT+="$line"$'\n' ;;
        esac
    done
    VM_RC=timeout
    return 1
}

vm_stop() {
    local name=$1

    printf '%s poweroff\n' "$((++VM_SEQ))" >&"${VM_FD_IN[$name]}" 2>/dev/null
    for _ in $(seq 1 60); do
        kill -0 "${VM_PID[$name]}" 2>/dev/null || return 0
        sleep 1
    done
    kill -9 "${VM_PID[$name]}" 2>/dev/null
}
