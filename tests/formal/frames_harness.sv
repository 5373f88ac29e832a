// Proof 4: the UART frame receiver (sst_hw.link.frames.FrameProtocol, its
// emitted Verilog @DUT@, never edited) leaves any partial frame.
//
// Under arbitrary received bytes, rx.valid and rx_error on every cycle
// (anyseq), after one reset cycle, with a transmitter and a core that never
// stall (tx.ready, core_i.ready, core_o.valid high: the bound is for them):
// once no byte has arrived for SILENCE = timeout_cycles + the longest wind
// down (pad the core's input, drain its result, send the longest reply)
// cycles, the protocol is back in HUNT (busy low), whatever state the bytes
// before had left it in. Placeholders @NAME@: tests/formal/frames.py.
module frames_harness(input clk);
    localparam IW = @IW@, OW = @OW@;
    localparam SILENCE = @SILENCE@;

    (* anyseq *) wire rx_valid;
    (* anyseq *) wire [7:0] rx_payload;
    (* anyseq *) wire rx_error;
    (* anyseq *) wire [OW-1:0] core_o_payload;
    wire rx_ready, tx_valid, core_i_valid, core_o_ready, busy, error;
    wire [7:0] tx_payload;
    wire [IW-1:0] core_i_payload;

    reg rst = 1'b1;
    always @(posedge clk) rst <= 1'b0;

    @DUT@ dut(.clk(clk), .rst(rst),
              .rx__valid(rx_valid), .rx__ready(rx_ready), .rx__payload(rx_payload),
              .rx_error(rx_error),
              .tx__valid(tx_valid), .tx__ready(1'b1), .tx__payload(tx_payload),
              .core_i__valid(core_i_valid), .core_i__ready(1'b1),
              .core_i__payload(core_i_payload),
              .core_o__valid(1'b1), .core_o__ready(core_o_ready),
              .core_o__payload(core_o_payload),
              .busy(busy), .error(error));

    // Cycles since a byte was last offered (saturating).
    reg [7:0] quiet = 0;
    always @(posedge clk)
        if (rst || rx_valid)
            quiet <= 0;
        else if (quiet != 8'hff)
            quiet <= quiet + 1;

    always @* if (!rst && quiet >= SILENCE) assert (!busy);
endmodule
